"""The synthetic generator: FairFace's exact format, determinism, and a plant the pixels confirm."""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairvision.data import synthetic
from fairvision.data.fairface import (
    ATTRIBUTE_VALUES,
    CSV_HEADER,
    LABEL_CSVS,
    SERVICE_TEST_VALUES,
    LabelRow,
    row_problem,
    zip_name,
)
from fairvision.errors import FairvisionError
from fairvision.params import Bias, Synth

GROUP = "Latino_Hispanic"
PLANT = Bias(where={"race": GROUP}, train_fraction=0.25, contrast=0.25, label_noise=0.1)
SIZE = 32
AMBIGUITY = 0.1


def _synth(
    bias: Bias | None,
    seed: int = 7,
    n_train: int = 700,
    n_val: int = 350,
    size: int = SIZE,
    ambiguity: float = AMBIGUITY,
) -> Synth:
    return Synth(seed=seed, n_train=n_train, n_val=n_val, image_size=size, ambiguity=ambiguity, bias=bias)


def _generated(factory: pytest.TempPathFactory, synth: Synth) -> Path:
    out_dir = factory.mktemp("synth") / "raw"
    synthetic.generate(synth, out_dir)
    return out_dir


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generated(tmp_path_factory, _synth(PLANT))


@pytest.fixture(scope="module")
def unplanted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generated(tmp_path_factory, _synth(None))


def _rows(out_dir: Path, split: str) -> list[dict[str, str]]:
    with (out_dir / LABEL_CSVS[split]).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _grey_images(out_dir: Path, rows: list[dict[str, str]]) -> np.ndarray:
    with zipfile.ZipFile(out_dir / zip_name(0.25)) as archive:
        return np.stack(
            [np.asarray(Image.open(io.BytesIO(archive.read(row["file"]))).convert("L"), np.float32) for row in rows]
        )


def _race_counts(rows: list[dict[str, str]]) -> collections.Counter[str]:
    return collections.Counter(row["race"] for row in rows)


def _gender_gap(images: np.ndarray, genders: np.ndarray) -> float:
    """Mean absolute difference of the Female and Male mean images: the gender cue's strength."""
    return float(np.abs(images[genders == "Female"].mean(0) - images[genders == "Male"].mean(0)).mean())


def _gaps_by_race(out_dir: Path) -> dict[str, float]:
    rows = _rows(out_dir, "val")
    images, races = _grey_images(out_dir, rows), np.array([row["race"] for row in rows])
    genders = np.array([row["gender"] for row in rows])
    return {race: _gender_gap(images[races == race], genders[races == race]) for race in ATTRIBUTE_VALUES["race"]}


@pytest.mark.parametrize("split", ["train", "val"])
def test_csvs_match_fairface_exactly(planted: Path, split: str) -> None:
    with (planted / LABEL_CSVS[split]).open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert tuple(lines[0]) == CSV_HEADER
    rows = [LabelRow(LABEL_CSVS[split], line, dict(zip(CSV_HEADER, values)))
            for line, values in enumerate(lines[1:], 2)]
    assert [row_problem(row) for row in rows] == [None] * len(rows)
    assert [row.values["file"] for row in rows] == [f"{split}/{n}.jpg" for n in range(1, len(rows) + 1)]
    assert {row.values["service_test"] for row in rows} == set(SERVICE_TEST_VALUES)
    assert 0.4 < np.mean([row.values["service_test"] == "True" for row in rows]) < 0.6


def test_attributes_cover_every_fairface_value(planted: Path) -> None:
    rows = _rows(planted, "train") + _rows(planted, "val")
    for attribute, values in ATTRIBUTE_VALUES.items():
        assert {row[attribute] for row in rows} == set(values)
    ages = collections.Counter(row["age"] for row in rows)
    assert ages["20-29"] > ages["50-59"] > ages["more than 70"]


def test_zip_holds_one_rgb_jpeg_per_row_and_nothing_else(planted: Path) -> None:
    files = [row["file"] for split in LABEL_CSVS for row in _rows(planted, split)]
    with zipfile.ZipFile(planted / zip_name(0.25)) as archive:
        assert archive.namelist() == files
        for name in files:
            image = Image.open(io.BytesIO(archive.read(name)))
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (SIZE, SIZE))
    assert sorted(path.name for path in planted.iterdir()) == sorted([*LABEL_CSVS.values(), zip_name(0.25),
                                                                      synthetic.MARKER])


@pytest.mark.parametrize("size", [16, 64])
def test_any_image_size_from_16_renders(tmp_path: Path, size: int) -> None:
    synthetic.generate(dataclasses.replace(_synth(PLANT, n_train=10, n_val=5, size=size), padding=1.25),
                       tmp_path / "raw")
    with zipfile.ZipFile(tmp_path / "raw" / zip_name(1.25)) as archive:
        assert {Image.open(io.BytesIO(archive.read(name))).size for name in archive.namelist()} == {(size, size)}


def _file_bytes(out_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out_dir.iterdir())}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        synthetic.generate(_synth(PLANT, seed=seed, n_train=60, n_val=30), tmp_path / name)
    first, again, other = (_file_bytes(tmp_path / name) for name in "abc")
    assert first == again
    assert all(first[name] != other[name] for name in first if name != synthetic.MARKER)


def test_plant_under_represents_the_group_in_train_only(planted: Path, unplanted: Path) -> None:
    train, val = _race_counts(_rows(planted, "train")), _race_counts(_rows(planted, "val"))
    unplanted_train = _race_counts(_rows(unplanted, "train"))
    others = [race for race in ATTRIBUTE_VALUES["race"] if race != GROUP]
    assert train[GROUP] == round(PLANT.train_fraction * unplanted_train[GROUP])
    assert all(train[race] == unplanted_train[race] for race in others)
    assert train[GROUP] < 0.5 * min(train[race] for race in others)
    assert val[GROUP] > 0.6 * np.mean([val[race] for race in others])
    shares = np.array([unplanted_train[race] for race in ATTRIBUTE_VALUES["race"]]) / sum(unplanted_train.values())
    assert np.all(np.abs(shares - 1 / 7) < 0.05)


def test_plant_changes_no_other_groups_images(planted: Path, unplanted: Path) -> None:
    """Each row renders from its own seed, so the plant cannot leak into other groups' pixels."""
    rows = _rows(planted, "val")
    assert rows == _rows(unplanted, "val")
    with zipfile.ZipFile(planted / zip_name(0.25)) as with_plant, \
            zipfile.ZipFile(unplanted / zip_name(0.25)) as without:
        same = [with_plant.read(row["file"]) == without.read(row["file"]) for row in rows]
    in_group = np.array([row["race"] == GROUP for row in rows])
    assert all(np.array(same)[~in_group]) and not any(np.array(same)[in_group])


def test_plant_weakens_only_the_groups_gender_cue(planted: Path) -> None:
    gaps = _gaps_by_race(planted)
    others = [gap for race, gap in gaps.items() if race != GROUP]
    assert gaps[GROUP] < 0.5 * min(others)


def test_without_plant_every_race_shows_the_cue_equally(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Pixels only, so without ambiguity: its hair lengths vary too much within 50 faces to compare.

    That every race is equally ambiguous is the ambiguity test's job.
    """
    gaps = _gaps_by_race(_generated(tmp_path_factory, _synth(None, n_train=10, ambiguity=0.0)))
    assert min(gaps.values()) > 0.75 * max(gaps.values())


def test_plant_can_target_any_attribute(tmp_path: Path) -> None:
    bias = Bias(where={"gender": "Female"}, train_fraction=0.5, contrast=1.0, label_noise=0.0)
    synthetic.generate(_synth(bias, n_train=400, n_val=10), tmp_path / "raw")
    genders = collections.Counter(row["gender"] for row in _rows(tmp_path / "raw", "train"))
    assert 0.35 < genders["Female"] / genders["Male"] < 0.65


def test_label_noise_flips_the_csv_not_the_image(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A pixel classifier fitted on clean val finds the CSV wrong for about label_noise of the group."""
    noisy = Bias(where={"race": GROUP}, train_fraction=1.0, contrast=1.0, label_noise=0.3)
    out_dir = _generated(tmp_path_factory, _synth(noisy, ambiguity=0.0))
    val, train = _rows(out_dir, "val"), _rows(out_dir, "train")
    val_images, train_images = _grey_images(out_dir, val), _grey_images(out_dir, train)
    val_female = np.array([row["gender"] == "Female" for row in val])
    female, male = val_images[val_female].mean(0), val_images[~val_female].mean(0)
    shows_female = ((train_images - (female + male) / 2) * (female - male)).sum(axis=(1, 2)) > 0
    disagrees = shows_female != np.array([row["gender"] == "Female" for row in train])
    in_group = np.array([row["race"] == GROUP for row in train])
    assert 0.2 < disagrees[in_group].mean() < 0.4
    assert disagrees[~in_group].mean() < 0.03


def test_failed_generation_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = []

    def failing_render(row: object, size: int) -> Image.Image:
        """Fails on the sixth image, after the CSVs and part of the zip are written."""
        rendered.append(row)
        if len(rendered) > 5:
            raise RuntimeError("renderer crashed")
        return Image.new("RGB", (size, size))

    monkeypatch.setattr(synthetic, "_render", failing_render)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        synthetic.generate(_synth(PLANT, n_train=20, n_val=5), tmp_path / "raw")
    assert list(tmp_path.iterdir()) == []


def test_failed_generation_keeps_an_earlier_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synthetic.generate(_synth(PLANT, n_train=20, n_val=5), tmp_path / "raw")
    before = _file_bytes(tmp_path / "raw")

    def broken_render(row: object, size: int) -> Image.Image:
        raise OSError("disk full")

    monkeypatch.setattr(synthetic, "_render", broken_render)
    with pytest.raises(OSError, match="disk full"):
        synthetic.generate(_synth(PLANT, seed=8, n_train=20, n_val=5), tmp_path / "raw")
    assert _file_bytes(tmp_path / "raw") == before
    assert [path.name for path in tmp_path.iterdir()] == ["raw"]


@pytest.mark.parametrize(
    "synth",
    [
        _synth(None, size=8),
        _synth(None, ambiguity=0.5),
        _synth(Bias(where={"race": "Martian"}, train_fraction=0.5, contrast=0.5, label_noise=0.0)),
        _synth(Bias(where={}, train_fraction=0.5, contrast=0.5, label_noise=0.0)),
        _synth(Bias(where={"glasses": "yes"}, train_fraction=0.5, contrast=0.5, label_noise=0.0)),  # not drawn
        dataclasses.replace(_synth(None), hidden={"hat": 0.5}),
        dataclasses.replace(_synth(None), hidden={"glasses": 1.5}),
    ],
)
def test_invalid_request_fails_before_writing(tmp_path: Path, synth: Synth) -> None:
    with pytest.raises(FairvisionError):
        synthetic.generate(synth, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_val_gender_is_balanced_within_each_race() -> None:
    synth = _synth(None, seed=3, n_train=50, n_val=301, size=16)
    val = synthetic._rows(synth)["val"]
    for race in ATTRIBUTE_VALUES["race"]:
        genders = [row.gender for row in val if row.race == race]
        assert abs(genders.count("Male") - genders.count("Female")) <= 1, race


def _misleading(rows: list[synthetic._Row]) -> np.ndarray:
    """Rows whose hair length is on the other gender's side of 0.5: they look like the other gender."""
    return np.array([(row.hair_length > 0.5) != (row.gender == "Female") for row in rows])


def test_ambiguity_misleads_the_same_share_of_every_group() -> None:
    rows = synthetic._rows(_synth(None, n_train=21000, n_val=10, ambiguity=0.2))["train"]
    misleading = _misleading(rows)
    for attribute in ("race", "gender"):
        for value in ATTRIBUTE_VALUES[attribute]:
            members = np.array([getattr(row, attribute) == value for row in rows])
            assert abs(misleading[members].mean() - 0.2) < 0.025, (attribute, value)


def test_ambiguity_moves_hair_lengths_and_nothing_else() -> None:
    clear, ambiguous = (synthetic._rows(_synth(PLANT, ambiguity=share)) for share in (0.0, 0.3))
    for split in ("train", "val"):
        assert [dataclasses.replace(row, hair_length=0.0) for row in clear[split]] == [
            dataclasses.replace(row, hair_length=0.0) for row in ambiguous[split]
        ]
        assert [row.hair_length for row in clear[split]] == [float(row.gender == "Female") for row in clear[split]]
        assert not _misleading(clear[split]).any()
        assert 0.2 < _misleading(ambiguous[split]).mean() < 0.4


def test_ambiguity_changes_images_deterministically(tmp_path: Path) -> None:
    for name, ambiguity in (("a", 0.3), ("b", 0.3), ("c", 0.0)):
        synthetic.generate(_synth(None, n_train=60, n_val=30, ambiguity=ambiguity), tmp_path / name)
    first, again, clear = (_file_bytes(tmp_path / name) for name in "abc")
    assert first == again
    assert first[zip_name(0.25)] != clear[zip_name(0.25)]


def test_longer_hair_shows_more_hair() -> None:
    """The cue is continuous: every step of hair length darkens the image, so length is visible."""
    row = synthetic._rows(_synth(None, n_train=1, n_val=1, size=64))["train"][0]
    darkness = [
        255 - np.asarray(synthetic._render(dataclasses.replace(row, hair_length=length), 64).convert("L")).mean()
        for length in np.linspace(0.0, 1.0, 6)
    ]
    assert all(np.diff(darkness) > 0.5)
