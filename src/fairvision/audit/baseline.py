"""Where `fairvision check` finds the two audits it compares, and whether they can be compared at all.

The current audit is the working tree's ``audits/<D>/<B>/`` (a *run*: backbone B trained on dataset
D). The baseline is either a folder laid out the same way (an ``audits/`` copy, e.g. an artifact of
the main branch's CI run) or a git revision, read through ``dvc.api.open`` so that the git-tracked
``fairness.json`` and the DVC-tracked ``predictions.parquet`` come from where ``dvc repro`` put them
(the DVC cache or remote). ``fairness.json`` is required on both sides; the prediction tables are
optional, since without them the check still runs (unpaired), only less sharply.

Two audits are comparable only on the same evaluation set: same dataset, target and labels,
and, when the predictions are paired, the same true label for every shared image id.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd
import yaml

from fairvision import layout
from fairvision.audit.record import Fairness, parse_fairness
from fairvision.errors import FairvisionError
from fairvision.files import strict_json
from fairvision.params import Check, check_section

__all__ = ["AuditFiles", "MIN_OVERLAP", "Paired", "baseline_audit", "baseline_check", "current_audit", "pair",
           "require_same_evaluation_set"]

FAIRNESS, PREDICTIONS, PARAMS = "fairness.json", "predictions", "params.yaml"  # predictions/seed-<S>.parquet
# Pairing compares the models on the images both predicted; below this share of either side's images the
# paired figures would describe a different set than the audits they are checked against.
MIN_OVERLAP = 0.9
_SAME_SET_KEYS = ("dataset", "target", "labels")
_NOT_IN_BASELINE = ("the baseline has no audit of this dataset and backbone; --baseline takes a folder holding "
                    "<dataset>/<backbone>/fairness.json, or a git revision")


@dataclasses.dataclass(frozen=True)
class AuditFiles:
    """One side of the comparison: its fairness.json and, where obtainable, its prediction table."""

    where: str  # how messages name this side's folder: "audits/small_cnn" or "origin/main:audits/small_cnn"
    fairness: Fairness
    predictions: Mapping[int, pd.DataFrame] | None  # training seed -> its table, for every seed the audit read
    no_predictions: str | None  # why ``predictions`` is None

    def file(self, name: str) -> str:
        return f"{self.where}/{name}"


@dataclasses.dataclass(frozen=True)
class Paired:
    """The rows both sides' prediction tables hold, joined on ``id``: ``label``, one prediction column per seed
    and side (``baseline_columns``, ``current_columns``) and the current tables' protected attributes."""

    rows: pd.DataFrame
    shared: int
    only_baseline: int
    only_current: int
    baseline_columns: tuple[str, ...] = ("pred_baseline",)
    current_columns: tuple[str, ...] = ("pred_current",)


def current_audit(run: str) -> AuditFiles:
    """The working tree's audit of ``run`` (``<dataset>/<backbone>``, relative to the current directory, like every
    stage)."""
    dataset, backbone = run.split("/")
    folder = layout.audit_dir(dataset, backbone)
    return _load(_Folder(folder), str(folder), f"run `dvc repro` or `fairvision audit {backbone} --dataset {dataset}`")


def baseline_audit(rev_or_path: str, run: str) -> AuditFiles:
    """The baseline's audit of ``run`` (``<dataset>/<backbone>``): ``rev_or_path`` is an existing audits folder,
    else a git revision.

    Raises:
        FairvisionError: naming the file, when the baseline's fairness.json cannot be read.
    """
    folder = Path(rev_or_path)
    if folder.exists():
        if not folder.is_dir():
            raise FairvisionError(f"--baseline {rev_or_path}: not a folder (expected an audits folder holding "
                                  f"<dataset>/<backbone>/{FAIRNESS}, or a git revision)")
        return _load(_Folder(folder / run), str(folder / run), _NOT_IN_BASELINE)
    relative = (layout.AUDITS_DIR / run).as_posix()
    return _load(_Revision(rev_or_path, relative), f"{rev_or_path}:{relative}", _NOT_IN_BASELINE)


def baseline_check(rev_or_path: str) -> tuple[Check | None, str]:
    """The baseline revision's params.yaml `check` section and how messages name it; None for a folder baseline.

    Raises:
        FairvisionError: naming the file, when the revision's params.yaml cannot be read or has no valid `check`.
    """
    if Path(rev_or_path).exists():
        return None, f"{rev_or_path} is a folder, with no params.yaml"
    where = f"{rev_or_path}:{PARAMS}"
    try:
        data = yaml.safe_load(_Revision(rev_or_path, "").read(PARAMS))
    except yaml.YAMLError as error:
        raise FairvisionError(f"{where}: not valid YAML ({_first_line(error)})") from None
    except Exception as error:  # noqa: BLE001  DVC and scmrepo raise many kinds
        raise FairvisionError(f"{where}: cannot be read: {type(error).__name__}: {_first_line(error)}") from None
    return check_section(data, where), where


def require_same_evaluation_set(baseline: AuditFiles, current: AuditFiles) -> None:
    """Raises FairvisionError naming both files when the audits describe different evaluation sets."""
    for key in _SAME_SET_KEYS:
        before, now = getattr(baseline.fairness, key), getattr(current.fairness, key)
        if before != now:
            raise FairvisionError(
                f"{baseline.file(FAIRNESS)} and {current.file(FAIRNESS)} audit different evaluation sets: "
                f"`{key}` is {before!r} in the baseline but {now!r} now; "
                "a regression check needs the same dataset, target and labels")


def pair(baseline: AuditFiles, current: AuditFiles) -> Paired:
    """Join both sides' prediction tables (one per seed) on ``id``; raises FairvisionError when no id is shared or
    labels disagree.

    Every seed of one side predicted the same images (the audit checked it), so each side's
    first table gives its ids and labels; the join keeps one prediction column per seed.
    """
    assert baseline.predictions is not None and current.predictions is not None
    tables, columns = {}, {}
    for side, files in (("baseline", baseline), ("current", current)):
        for seed, frame in files.predictions.items():
            name = _table(files, seed)
            missing = {"id", "label", "pred"} - set(frame.columns)
            if missing:
                raise FairvisionError(f"{name}: missing column(s) {', '.join(sorted(missing))}")
            if frame["id"].duplicated().any():
                raise FairvisionError(f"{name}: column `id` repeats an id "
                                      f"({frame.loc[frame['id'].duplicated(), 'id'].iloc[0]!r})")
        frames = list(files.predictions.items())
        if len(frames) == 1:  # one model: the check's single-run form
            merged = frames[0][1].rename(columns={"pred": f"pred_{side}"})
        else:
            merged = frames[0][1].drop(columns="pred")
            for seed, frame in frames:
                merged[f"pred_{side}_seed{seed}"] = frame.set_index("id")["pred"].reindex(merged["id"]).to_numpy()
        columns[side] = tuple(c for c in merged.columns if c.startswith(f"pred_{side}"))
        tables[side] = merged
    where = f"{baseline.file(PREDICTIONS)} and {current.file(PREDICTIONS)}"
    base_ids, current_ids = set(tables["baseline"]["id"]), set(tables["current"]["id"])
    shared = base_ids & current_ids
    if not shared:
        raise FairvisionError(f"{where} share no image id: they are not predictions on the same evaluation set")
    for side, ids in (("baseline", base_ids), ("current", current_ids)):
        if len(shared) < MIN_OVERLAP * len(ids):
            raise FairvisionError(
                f"{where} share {len(shared)} image ids, {len(shared) / len(ids):.0%} of the {side}'s {len(ids)}: "
                f"below {MIN_OVERLAP:.0%}, the paired comparison would not describe the audited evaluation sets")
    base = tables["baseline"][["id", "label", *columns["baseline"]]].rename(columns={"label": "label_baseline"})
    rows = tables["current"].merge(base, on="id", how="inner")
    rows = rows.sort_values("id", kind="stable").reset_index(drop=True)  # deterministic whatever the file order
    disagree = rows["label"].astype(str) != rows["label_baseline"].astype(str)
    if disagree.any():
        raise FairvisionError(
            f"{where} give different true labels to {int(disagree.sum())} shared ids "
            f"(e.g. {rows.loc[disagree, 'id'].iloc[0]!r}): not the same evaluation set")
    return Paired(rows.drop(columns="label_baseline"), len(shared), len(base_ids - shared), len(current_ids - shared),
                  columns["baseline"], columns["current"])


def _table(files: AuditFiles, seed: int) -> str:
    return f"{files.file(PREDICTIONS)}/seed-{seed}.parquet"


class _Folder:
    """Files of one run's audit folder on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class _Revision:
    """Files of one run's audit folder at a git revision, through DVC (git-tracked or DVC-tracked alike)."""

    def __init__(self, rev: str, relative: str) -> None:
        self.rev, self.relative = rev, relative

    def read(self, name: str) -> bytes:
        import dvc.api  # slow to import, and only needed for a revision

        path = f"{self.relative}/{name}" if self.relative else name  # "": the repository's root
        with dvc.api.open(path, rev=self.rev, mode="rb") as handle:
            return handle.read()


def _load(source: _Folder | _Revision, where: str, hint: str) -> AuditFiles:
    """Read a side's fairness.json (required; ``hint`` says how to get it) and its seeds' predictions (optional)."""
    fairness = _parse(source.read, f"{where}/{FAIRNESS}", hint)
    tables, why = {}, None
    for run in fairness.seeds.runs:
        name = f"{PREDICTIONS}/seed-{run.seed}.parquet"
        try:
            tables[run.seed] = pd.read_parquet(io.BytesIO(source.read(name)))
        except FileNotFoundError:
            why = f"{where}/{name} does not exist"
        except Exception as error:  # noqa: BLE001  DVC raises many kinds (no remote, missing cache, bad parquet)
            why = f"{where}/{name} could not be read ({type(error).__name__}: {_first_line(error)})"
        if why:
            return AuditFiles(where, fairness, None, why)
        _require_audited(tables[run.seed], fairness, run.accuracy, f"{where}/{name}", f"{where}/{FAIRNESS}")
    return AuditFiles(where, fairness, tables, None)


def _require_audited(predictions: pd.DataFrame, fairness: Fairness, audited: float | None, table: str,
                     audit: str) -> None:
    """Raise FairvisionError when a prediction table is not the one its fairness.json audited (rows, accuracy).

    A table left over from another run would be paired and bootstrapped as if the audit had
    judged it, so the check's figures and the audit's would silently describe different models.
    ``audited`` is the accuracy the audit recorded for this table's seed.
    """
    missing = {"label", "pred"} - set(predictions.columns)
    if missing:
        raise FairvisionError(f"{table}: missing column(s) {', '.join(sorted(missing))}")
    accuracy = float((predictions["label"].astype(str) == predictions["pred"].astype(str)).mean()) if len(
        predictions) else math.nan
    if len(predictions) != fairness.n or (audited is not None and not math.isclose(accuracy, audited, abs_tol=1e-5)):
        raise FairvisionError(
            f"{table} holds {len(predictions)} predictions with accuracy {accuracy:.6f}, but {audit} audited "
            f"{fairness.n} with accuracy {audited} for that seed: they come from different runs; rerun "
            "`dvc repro` (or evaluate and audit) so that both come from the same model")


def _parse(read: Callable[[str], bytes], path: str, hint: str) -> Fairness:
    try:
        raw = read(FAIRNESS)
    except FileNotFoundError:
        raise FairvisionError(f"{path}: no such file ({hint})") from None
    except Exception as error:  # noqa: BLE001  e.g. an unknown git revision, reported by DVC or scmrepo
        raise FairvisionError(f"{path}: cannot be read: {type(error).__name__}: {_first_line(error)} "
                              "(--baseline is neither an existing folder nor a revision holding this file)") from None
    try:
        data = strict_json(raw)
    except ValueError as error:  # malformed JSON, NaN or Infinity
        raise FairvisionError(f"{path}: not valid JSON ({error})") from None
    return parse_fairness(data, path)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no details"
