"""Where each stage reads and writes by default: the paths dvc.yaml also names."""

from __future__ import annotations

from pathlib import Path


SYNTHETIC_DIR = Path("data/raw/synthetic")  # the synth stage's own output: never a user's dataset.path


def prepared_dir(dataset_name: str) -> Path:
    return Path("data/prepared") / dataset_name


def model_dir(backbone: str) -> Path:
    return Path("models") / backbone


def history_path(backbone: str) -> Path:
    """Per-epoch metrics (`dvc plots` over training/): kept out of the model's folder and hash."""
    return Path("training") / backbone / "history.csv"


def timing_path(backbone: str) -> Path:
    """Wall time and images/s of the last training run: a fact of the run, not of the model."""
    return Path("timings") / f"{backbone}.json"


def audit_dir(backbone: str) -> Path:
    return Path("audits") / backbone


def groups_dir(backbone: str) -> Path:
    """Per-group accuracy bars (CSV per partition) for `dvc plots`."""
    return Path("groups") / backbone


REPORTS_DIR = Path("reports")
