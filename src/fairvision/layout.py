"""Where each stage reads and writes by default: the paths dvc.yaml also names.

Every output of a trained model sits under its dataset's name, then its backbone's, so one
pipeline can benchmark every backbone on every dataset in params.yaml `datasets`.
"""

from __future__ import annotations

from pathlib import Path


SYNTHETIC_DIR = Path("data/raw/synthetic")  # the synth stage's own output: never a user's dataset path
# Roots of the per-dataset outputs: <root>/<dataset>/<backbone>... (timings: <root>/<dataset>/<backbone>.json)
MODELS_DIR, TRAINING_DIR, TIMINGS_DIR = Path("models"), Path("training"), Path("timings")
AUDITS_DIR, GROUPS_DIR, REPORTS_DIR = Path("audits"), Path("groups"), Path("reports")


def prepared_dir(dataset: str) -> Path:
    return Path("data/prepared") / dataset


def run_name(dataset: str, backbone: str) -> str:
    """How folders, logs and `fairvision check` name one backbone trained on one dataset."""
    return f"{dataset}/{backbone}"


def model_dir(dataset: str, backbone: str) -> Path:
    return MODELS_DIR / dataset / backbone


def history_path(dataset: str, backbone: str) -> Path:
    """Per-epoch metrics (`dvc plots` over training/): kept out of the model's folder and hash."""
    return TRAINING_DIR / dataset / backbone / "history.csv"


def timing_path(dataset: str, backbone: str) -> Path:
    """Wall time and images/s of the last training run: a fact of the run, not of the model."""
    return TIMINGS_DIR / dataset / f"{backbone}.json"


def audit_dir(dataset: str, backbone: str) -> Path:
    return AUDITS_DIR / dataset / backbone


def explanations_dir(dataset: str, backbone: str) -> Path:
    """Saliency maps per group, their disparity and faithfulness (explanations.json, PNGs)."""
    return audit_dir(dataset, backbone) / "explanations"


def groups_dir(dataset: str, backbone: str) -> Path:
    """Per-group accuracy bars (CSV per partition) for `dvc plots`."""
    return GROUPS_DIR / dataset / backbone


def report_dir(dataset: str) -> Path:
    """One report per dataset: its backbones side by side, and a card per backbone."""
    return REPORTS_DIR / dataset


def checkpoint_dir(dataset: str, backbone: str) -> Path:
    """Training state after each epoch, for resuming a killed run: scratch, in neither git nor DVC."""
    return Path(".fairvision/checkpoints") / dataset / backbone
