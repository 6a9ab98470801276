"""Where each stage reads and writes by default: the paths dvc.yaml also names.

Every output of a trained model sits under its dataset's name, then its backbone's, then its
training seed's (params.yaml `train.seeds`: each seed is its own model), so one pipeline can
benchmark every backbone on every dataset in params.yaml `datasets`, each trained several times.
The audit, explanations and report are per backbone: they read every seed's predictions (the
explanations, and what `fairvision serve` is pointed at, use the first seed's model).
"""

from __future__ import annotations

import re
from pathlib import Path


SYNTHETIC_DIR = Path("data/raw/synthetic")  # the synth stage's own output: never a user's dataset path
# Roots of the per-dataset outputs: <root>/<dataset>/<backbone>/... (per seed: seed-<s>)
MODELS_DIR, TRAINING_DIR, TIMINGS_DIR = Path("models"), Path("training"), Path("timings")
AUDITS_DIR, GROUPS_DIR, REPORTS_DIR = Path("audits"), Path("groups"), Path("reports")
CHECKPOINTS_DIR = Path(".fairvision/checkpoints")  # the default root of every run's per-epoch state


def prepared_dir(dataset: str) -> Path:
    return Path("data/prepared") / dataset


def run_name(dataset: str, backbone: str) -> str:
    """How folders, logs and `fairvision check` name one backbone trained on one dataset."""
    return f"{dataset}/{backbone}"


def seed_name(seed: int) -> str:
    """The folder (or file stem) of one training seed's outputs."""
    return f"seed-{seed}"


def model_dir(dataset: str, backbone: str, seed: int) -> Path:
    return MODELS_DIR / dataset / backbone / seed_name(seed)


def history_path(dataset: str, backbone: str, seed: int) -> Path:
    """Per-epoch metrics (`dvc plots` over training/): kept out of the model's folder and hash."""
    return TRAINING_DIR / dataset / backbone / seed_name(seed) / "history.csv"


def timing_path(dataset: str, backbone: str, seed: int) -> Path:
    """Wall time and images/s of the last training run: a fact of the run, not of the model."""
    return TIMINGS_DIR / dataset / backbone / f"{seed_name(seed)}.json"


def audit_dir(dataset: str, backbone: str) -> Path:
    return AUDITS_DIR / dataset / backbone


def predictions_dir(dataset: str, backbone: str) -> Path:
    """One prediction table per seed (``predictions_path``): the audit reads the seeds params.yaml lists."""
    return audit_dir(dataset, backbone) / "predictions"


def predictions_path(dataset: str, backbone: str, seed: int) -> Path:
    return predictions_dir(dataset, backbone) / f"{seed_name(seed)}.parquet"


def explanations_dir(dataset: str, backbone: str) -> Path:
    """Saliency maps per group, their disparity and faithfulness (explanations.json, PNGs)."""
    return audit_dir(dataset, backbone) / "explanations"


def cohort_examples_dir(dataset: str, backbone: str) -> Path:
    """Discovery's pictures: a strip of examples with Grad-CAM maps per selected embedding cohort."""
    return audit_dir(dataset, backbone) / "cohort-examples"


def groups_dir(dataset: str, backbone: str) -> Path:
    """Per-group accuracy bars (CSV per partition) for `dvc plots`."""
    return GROUPS_DIR / dataset / backbone


def report_dir(dataset: str) -> Path:
    """One report per dataset: its backbones side by side, and a card per backbone."""
    return REPORTS_DIR / dataset


def checkpoint_dir(dataset: str, backbone: str, seed: int, root: Path = CHECKPOINTS_DIR) -> Path:
    """Training state after each epoch, for resuming a killed run: scratch, in neither git nor DVC. ``root`` is
    where `fairvision train` keeps every run's (--checkpoint-dir): on several workers, a folder all of them read."""
    return root / dataset / backbone / seed_name(seed)


def train_command(model_dir: str | Path) -> str:
    """The `fairvision` command that writes ``model_dir``, for "run it first" messages: ``train B --seed S`` for a
    seed's folder of the layout, ``train <folder name>`` for any other."""
    model_dir = Path(model_dir)
    seed = re.fullmatch(r"seed-(\d+)", model_dir.name)
    return f"train {model_dir.parent.name} --seed {seed.group(1)}" if seed else f"train {model_dir.name}"
