"""The synthetic generator's hidden attributes and its plant on any attribute or intersection.

Hidden attributes change the images and appear only in a side file; turning none on must leave
every output byte as it was before they existed.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairvision.data import synthetic
from fairvision.data.fairface import LABEL_CSVS, fairface_source, zip_name
from fairvision.data.storage import open_root
from fairvision.params import HIDDEN_VALUES, Bias, Synth

HIDDEN = {"glasses": 0.3, "lighting": 0.2}
PLANT = Bias(where={"race": "Latino_Hispanic"}, train_fraction=0.25, contrast=0.25, label_noise=0.1)

# sha256 of every file of `_synth(plant)` (seed 7, n_train 40, n_val 20, image_size 32), computed with the generator
# as it was before hidden attributes existed (main at ce8d4ea). They guard that `hidden: {}` changes no byte of the
# default pipeline's data: not the row draws (the new RNG stream), not the images, not the folder's files. They also
# change if the pinned Pillow/libjpeg or numpy changes the JPEG bytes or the draws: then recompute them at a commit
# that predates the change in question, never from the code under test.
BEFORE_HIDDEN = {
    "planted": {
        "GENERATED_BY_FAIRVISION_SYNTH.txt": "d873a4022b8f43eed3798ae12ea38441421deaeecba00e6b08e624c7c17c64b9",
        "fairface-img-margin025-trainval.zip": "28a9b2b309a31bb545ffc8a13475026ddf5f9614f205027cda62a67f7b1b0821",
        "fairface_label_train.csv": "80d9f5501c2c1b6da5c00e4c38185c7d1476985ad6ee979fb9dd827c0ca0e62b",
        "fairface_label_val.csv": "5b613deb9b3885c5f03a204bf667d05edd95388daf7f93cbd09921bcc4401669",
    },
    "none": {
        "GENERATED_BY_FAIRVISION_SYNTH.txt": "d873a4022b8f43eed3798ae12ea38441421deaeecba00e6b08e624c7c17c64b9",
        "fairface-img-margin025-trainval.zip": "ee774b90298645363f75f6ca07810c61df60c7fa4d38e30faa4e969ff0fda8ac",
        "fairface_label_train.csv": "22249dbd15babf35b120df2be9de3232486148c2899c3f25ec83848f59b324e4",
        "fairface_label_val.csv": "5b613deb9b3885c5f03a204bf667d05edd95388daf7f93cbd09921bcc4401669",
    },
}


def _synth(bias: Bias | None, hidden: dict[str, float] | None = None, n_train: int = 40, n_val: int = 20,
           size: int = 32) -> Synth:
    return Synth(seed=7, n_train=n_train, n_val=n_val, image_size=size, ambiguity=0.1, bias=bias,
                 hidden=hidden or {})


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.float32)


@pytest.mark.parametrize("plant", ["planted", "none"])
def test_without_hidden_attributes_every_file_is_as_before(tmp_path: Path, plant: str) -> None:
    synthetic.generate(_synth(PLANT if plant == "planted" else None), tmp_path / "raw")
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "raw").iterdir()}
    assert digests == BEFORE_HIDDEN[plant]  # no hidden_attributes.csv either


def test_the_registry_renders_exactly_the_params_vocabulary() -> None:
    assert list(synthetic.HIDDEN) == list(HIDDEN_VALUES)


def test_hidden_attributes_are_drawn_at_their_prevalence_apart_from_everything_else() -> None:
    hidden = {"glasses": 0.15, "lighting": 0.4}
    drawn = synthetic._rows(_synth(None, hidden, n_train=4000, n_val=2000))
    plain = synthetic._rows(_synth(None, n_train=4000, n_val=2000))
    glasses_only = synthetic._rows(_synth(None, {"glasses": 0.15}, n_train=4000, n_val=2000))
    more_glasses = synthetic._rows(_synth(None, {"glasses": 0.3}, n_train=4000, n_val=2000))
    rows = drawn["train"] + drawn["val"]
    for name, prevalence in hidden.items():
        share = np.mean([row.value(name) == HIDDEN_VALUES[name][1] for row in rows])
        assert abs(share - prevalence) < 4 * np.sqrt(prevalence * (1 - prevalence) / len(rows)), name  # ~4 sd
        assert {row.value(name) for row in rows} == set(HIDDEN_VALUES[name])
    for split in ("train", "val"):
        assert [dataclasses.replace(row, hidden=()) for row in drawn[split]] == plain[split]  # nothing else moves
        assert [row.value("glasses") for row in drawn[split]] == [row.value("glasses") for row in glasses_only[split]]
        assert all(more.value("glasses") == "yes" for less, more in zip(glasses_only[split], more_glasses[split])
                   if less.value("glasses") == "yes")  # a higher prevalence only adds faces
    glasses = np.array([row.value("glasses") == "yes" for row in rows])
    female = np.array([row.gender == "Female" for row in rows])
    assert abs(glasses[female].mean() - glasses[~female].mean()) < 0.04  # drawn apart from the attributes


def test_side_file_lists_the_label_csvs_files_and_fairvision_reads_nothing_else(tmp_path: Path) -> None:
    """Planted on a hidden attribute, so train drops rows: the side file follows the CSVs that were written."""
    bias = Bias(where={"glasses": "yes"}, train_fraction=0.5, contrast=0.5, label_noise=0.0)
    synthetic.generate(_synth(bias, HIDDEN, n_train=60), tmp_path / "raw")
    out = tmp_path / "raw"
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*LABEL_CSVS.values(), zip_name(0.25), synthetic.MARKER, synthetic.HIDDEN_CSV])
    with (out / synthetic.HIDDEN_CSV).open(newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["file", "glasses", "lighting"]
    side = _csv(out / synthetic.HIDDEN_CSV)
    labelled = _csv(out / LABEL_CSVS["train"]) + _csv(out / LABEL_CSVS["val"])
    assert [row["file"] for row in side] == [row["file"] for row in labelled] and len(labelled) < 80
    rows = synthetic._rows(_synth(bias, HIDDEN, n_train=60))
    assert side == [{"file": row["file"], **dict(face.hidden)}
                    for row, face in zip(side, rows["train"] + rows["val"])]
    for name, values in HIDDEN_VALUES.items():
        assert {row[name] for row in side} == set(values)


def test_hidden_attributes_change_only_the_faces_that_have_them(tmp_path: Path) -> None:
    synthetic.generate(_synth(None), tmp_path / "plain")
    synthetic.generate(_synth(None, HIDDEN), tmp_path / "hidden")
    for name in LABEL_CSVS.values():  # no label says anything about them
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "hidden" / name).read_bytes()
    side = _csv(tmp_path / "hidden" / synthetic.HIDDEN_CSV)
    with zipfile.ZipFile(tmp_path / "plain" / zip_name(0.25)) as plain, \
            zipfile.ZipFile(tmp_path / "hidden" / zip_name(0.25)) as hidden:
        same = [plain.read(row["file"]) == hidden.read(row["file"]) for row in side]
    usual = [row["glasses"] == "no" and row["lighting"] == "normal" for row in side]
    assert same == usual and 0 < sum(usual) < len(usual)
    with fairface_source(open_root(tmp_path / "plain"), 0.25, "gender") as plain_source, \
            fairface_source(open_root(tmp_path / "hidden"), 0.25, "gender") as hidden_source:
        assert hidden_source.candidates == plain_source.candidates  # prepare's reader ignores the side file
        assert set(hidden_source.metadata) == set(LABEL_CSVS.values()) and hidden_source.attributes == (
            "race", "gender", "age")


def test_glasses_darken_the_eye_region_of_the_same_face() -> None:
    row = synthetic._rows(_synth(None, n_train=1, n_val=1, size=64))["train"][0]
    without = _grey(synthetic._render(row, 64))
    assert np.array_equal(_grey(synthetic._render(dataclasses.replace(row, hidden=(("glasses", "no"),)), 64)), without)
    with_glasses = _grey(synthetic._render(dataclasses.replace(row, hidden=(("glasses", "yes"),)), 64))
    changed = np.abs(with_glasses - without) > 0
    rows = np.flatnonzero(changed.any(axis=1))
    assert 0.3 * 64 < rows.min() and rows.max() < 0.55 * 64  # a band across the eyes; the rest is the same face
    band = slice(rows.min(), rows.max() + 1)
    assert with_glasses[band].mean() < without[band].mean() - 15


def test_dim_lighting_darkens_the_whole_image_and_its_contrast() -> None:
    row = synthetic._rows(_synth(None, n_train=1, n_val=1, size=64))["train"][0]
    normal = _grey(synthetic._render(row, 64))
    dim = _grey(synthetic._render(dataclasses.replace(row, hidden=(("lighting", "dim"),)), 64))
    assert 0.5 < dim.mean() / normal.mean() < 0.6
    assert dim.std() < 0.65 * normal.std()


def _planted(rows: list[synthetic._Row]) -> list[bool]:
    """The plant's mark on val, whose rows it keeps: a weaker cue."""
    return [row.contrast < 1.0 for row in rows]


@pytest.mark.parametrize("where", [
    {"glasses": "yes"},
    {"lighting": "dim"},
    {"race": "Black", "glasses": "yes"},
    {"race": "Black", "gender": "Female"},
    {"age": "20-29", "lighting": "normal", "glasses": "no"},
])
def test_plant_selects_exactly_the_rows_with_every_value(where: dict[str, str]) -> None:
    bias = Bias(where=where, train_fraction=0.5, contrast=0.3, label_noise=0.2)
    rows = synthetic._rows(_synth(bias, HIDDEN, n_train=3000, n_val=600))
    free = synthetic._rows(_synth(None, HIDDEN, n_train=3000, n_val=600))
    members = [all(row.value(a) == v for a, v in where.items()) for row in free["val"]]
    assert _planted(rows["val"]) == members and sum(members) > 5
    assert [dataclasses.replace(row, contrast=1.0) for row in rows["val"]] == free["val"]
    in_train = [all(row.value(a) == v for a, v in where.items()) for row in free["train"]]
    kept = [row for row in rows["train"] if row.contrast < 1.0]
    assert len(kept) == round(0.5 * sum(in_train))  # under-represented ...
    assert [row for row in rows["train"] if row.contrast == 1.0] == [
        row for row, member in zip(free["train"], in_train) if not member]  # ... and no one else dropped or flipped
    flipped = sum(row.label != row.gender for row in kept)
    assert flipped == round(0.2 * len(kept))
