"""Synthetic FairFace: procedural face-like images in FairFace's exact published format.

A fairness audit needs ground truth, so this generator plants a known bias into data that
otherwise treats every group alike, and writes it as FairFace does (two label CSVs plus
one image zip) so the audit runs through the same reader as the real download.

Design:

* The target is ``gender`` and its cue is the hair silhouette, a hair length from 0 (a short
  cap on top of the head) to 1 (long hair falling beside the face below the chin). Hair is
  drawn first and the shoulders, neck and face over it, so faces differ by gender only where
  one shows hair and the other shows background. The cue's contrast is therefore hair (dark)
  against background (light, race-independent): skin tone never enters it, so without a plant
  every race group is equally easy and the audit finds nothing it was not given.
* Not every face's hair tells its gender (``ambiguity``), so the task is realistically hard and
  a model's errors have somewhere to fall evenly: a face's hair length is its gender's typical
  length (Female 1, Male 0) plus a normal spread, clipped to [0, 1], and the spread is chosen
  so that exactly ``ambiguity`` of each gender's faces (in expectation) fall on the other
  gender's side of 0.5. Those faces look like the other gender, so ``1 - ambiguity`` is the
  best accuracy any model can reach, and the decision rule that reaches it (length above 0.5)
  is the same for everyone. The spread is drawn per row independently of every attribute, so
  every group is equally ambiguous by construction.
* Race shows as skin tone and face aspect ratio; age as face size (children), silver hair and
  forehead lines. Silver stays dark so old faces keep nearly the full gender cue.
* Each image jitters face position and size, background tint, hair darkness, clothes colour
  and pixel noise, so a classifier must learn the silhouette rather than fixed pixels.
* Each row draws its own rendering seed together with its attributes, so the plant (which
  drops rows and flips labels) never changes another row's image: a planted run differs from
  ``bias: none`` only in the planted group.
* Hidden attributes (``synth.hidden``, e.g. ``{glasses: 0.15, lighting: 0.2}``; the registry
  ``HIDDEN`` below, their values ``params.HIDDEN_VALUES``) change a face's look but appear in no
  label CSV: glasses draw dark frames and lenses over the eyes, dim lighting darkens the whole
  image before its noise. Each is drawn per face, ``prevalence`` of them with its second value,
  from a stream of its own (the seed's fourth child, then one per attribute and split), and
  neither look consumes the row's rendering stream, so a face with glasses is the same face
  without them, and with ``hidden: {}`` every file is byte for byte what it was before hidden
  attributes existed. They are written to ``hidden_attributes.csv`` (``file`` as in the label
  CSVs, then one column per hidden attribute), only when some are drawn: ground truth for
  validating cohort discovery (can it find a group nobody labelled?), never read by
  fairvision (``data.fairface`` reads the label CSVs and the zip by name, nothing else).
* The plant, for rows with every value of ``bias.where`` (one attribute, e.g. ``{race:
  Latino_Hispanic}``, or an intersection, e.g. ``{race: Black, glasses: "yes"}``; FairFace or
  hidden attributes): train keeps only ``train_fraction`` of them (under-representation); train
  and val draw their hair ``contrast`` of the way from background to hair colour (a weaker cue,
  0 = none); train's CSV flips ``label_noise`` of their gender labels while the images show the
  true gender. ``where`` may name gender, the images' target: alone it plants class imbalance
  (fewer faces of that gender), a weaker cue for that class, and label noise in one direction,
  which an audit sees as a gap between the classes, not between groups; beside another
  attribute (``{race: Black, gender: Female}``) it plants the intersection's bias.
* Deterministic for a seed: numpy ``default_rng``, fixed JPEG quality and fixed zip entry
  metadata give byte-identical output.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import zipfile
from pathlib import Path
from statistics import NormalDist
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
from PIL import Image, ImageDraw

from fairvision.data.fairface import CSV_HEADER, LABEL_CSVS, SERVICE_TEST_VALUES, zip_name
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path
from fairvision.params import ATTRIBUTE_VALUES, HIDDEN_VALUES, MAX_AMBIGUITY, Bias, Synth

AGE_PROBABILITIES = (0.02, 0.12, 0.11, 0.30, 0.22, 0.12, 0.07, 0.03, 0.01)  # roughly FairFace's ages
MIN_IMAGE_SIZE = 16  # below this the eyes and mouth vanish
JPEG_QUALITY = 90
SUPERSAMPLE = 2  # draw at twice the size, then box-average down: smooth edges without ringing halos
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest zip date; a fixed stamp keeps the archive byte-identical
NOISE_AMPLITUDE = 7.0  # uniform pixel noise in +-7 levels (std 4); uniform draws are 5x faster than normal

Colour = tuple[float, float, float]
Box = tuple[float, float, float, float]
BACKGROUND: Colour = (218.0, 218.0, 218.0)  # light for everyone: the cue's contrast must not depend on race
HAIR: Colour = (42.0, 34.0, 30.0)
SILVER: Colour = (100.0, 100.0, 106.0)  # grey hair stays dark, so age barely weakens the cue
EYES: Colour = (35.0, 28.0, 28.0)
LIPS: Colour = (160.0, 55.0, 65.0)
FRAMES: Colour = (18.0, 18.0, 22.0)  # glasses: near-black frames ...
LENS_TINT = 0.7  # ... and lenses this share of the way from skin to the frames' colour
DIM = 0.55  # dim lighting: every channel at this share, before the sensor noise (which dimming does not reduce)
# Hair shapes in face radii at hair length 0 and 1; lengths between interpolate them.
CROWN_SHORT: Box = (-1.1, -1.16, 1.1, 0.3)  # the cap: an ellipse over the top of the head
CROWN_LONG: Box = (-1.32, -1.24, 1.32, 0.6)
CURTAIN_SHORT: Box = (-1.0, -0.2, 1.0, -0.2)  # hair falling beside the face: none at length 0
CURTAIN_LONG: Box = (-1.38, -0.2, 1.38, 1.8)  # ... down past the chin at length 1


@dataclasses.dataclass(frozen=True)
class _RaceStyle:
    skin: Colour
    aspect: float  # face width relative to the default


@dataclasses.dataclass(frozen=True)
class _AgeStyle:
    scale: float  # face size: children's heads fill less of the crop
    grey: float  # share of silver in the hair
    lines: int  # forehead wrinkles


_RACE_STYLES = {
    "White": _RaceStyle((236.0, 202.0, 180.0), 0.98),
    "Black": _RaceStyle((96.0, 62.0, 44.0), 1.04),
    "Latino_Hispanic": _RaceStyle((204.0, 150.0, 112.0), 1.0),
    "East Asian": _RaceStyle((242.0, 214.0, 170.0), 1.08),
    "Southeast Asian": _RaceStyle((176.0, 130.0, 88.0), 1.05),
    "Indian": _RaceStyle((144.0, 96.0, 66.0), 0.95),
    "Middle Eastern": _RaceStyle((222.0, 178.0, 138.0), 0.92),
}
_AGE_STYLES = {
    "0-2": _AgeStyle(0.84, 0.0, 0),
    "3-9": _AgeStyle(0.91, 0.0, 0),
    "10-19": _AgeStyle(0.97, 0.0, 0),
    "20-29": _AgeStyle(1.0, 0.0, 0),
    "30-39": _AgeStyle(1.0, 0.1, 0),
    "40-49": _AgeStyle(1.0, 0.3, 1),
    "50-59": _AgeStyle(1.0, 0.55, 2),
    "60-69": _AgeStyle(1.0, 0.8, 2),
    "more than 70": _AgeStyle(1.0, 1.0, 3),
}


@dataclasses.dataclass(frozen=True)
class _Row:
    """One image and its CSV row; ``gender`` is what the image shows, ``label`` what the CSV says."""

    age: str
    gender: str
    race: str
    service_test: str
    seed: int  # the row's own rendering stream, so dropping rows never changes another image
    label: str
    hair_length: float  # the gender cue: 0 a short cap, 1 long hair below the chin
    contrast: float = 1.0  # hair's share of the way from background colour to hair colour
    hidden: tuple[tuple[str, str], ...] = ()  # (hidden attribute, value) for each attribute `synth.hidden` draws

    def value(self, attribute: str) -> str:
        """The row's value of a FairFace attribute (what the image shows) or of a hidden one."""
        return dict(self.hidden)[attribute] if attribute in HIDDEN_VALUES else getattr(self, attribute)


@dataclasses.dataclass(frozen=True)
class _Face:
    """The face ellipse in pixels; every shape is placed in units of its radii."""

    cx: float
    cy: float
    rw: float
    rh: float

    def box(self, left: float, top: float, right: float, bottom: float) -> Box:
        return (self.cx + left * self.rw, self.cy + top * self.rh,
                self.cx + right * self.rw, self.cy + bottom * self.rh)


MARKER = "GENERATED_BY_FAIRVISION_SYNTH.txt"
HIDDEN_CSV = "hidden_attributes.csv"  # the hidden attributes' ground truth; fairvision never reads it


def generate(synth: Synth, out_dir: str | os.PathLike[str]) -> None:
    """Write fairface_label_train.csv, fairface_label_val.csv and the image zip (named for ``synth.padding``)
    into out_dir, and hidden_attributes.csv when ``synth.hidden`` draws any.

    ``out_dir`` is replaced as a whole, so it must be empty, absent or an earlier output of
    this generator (it carries a marker file): a real FairFace folder looks exactly like our
    output, and replacing it would destroy the user's data.
    """
    _check(synth)
    _refuse_foreign(Path(out_dir))
    splits = _rows(synth)
    with atomic_path(out_dir, directory=True) as tmp:
        for split, rows in splits.items():
            _write_csv(tmp / LABEL_CSVS[split], split, rows)
        if synth.hidden:
            _write_hidden_csv(tmp / HIDDEN_CSV, tuple(name for name in HIDDEN if name in synth.hidden), splits)
        _write_zip(tmp / zip_name(synth.padding), _images(splits, synth.image_size))
        (tmp / MARKER).write_text("Generated by `fairvision synth`; it replaces this folder on every run.\n",
                                  encoding="utf-8")


def _refuse_foreign(out_dir: Path) -> None:
    """Never replace a folder this generator did not write (a user's dataset, say)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not (out_dir / MARKER).is_file():
        raise FairvisionError(f"{out_dir}: exists and was not written by `fairvision synth` (no {MARKER}); "
                              "refusing to replace it: choose another --out, or empty the folder yourself")


def _check(synth: Synth) -> None:
    """Fail before writing anything when the request cannot be rendered or planted."""
    if synth.image_size < MIN_IMAGE_SIZE:
        raise FairvisionError(f"synth.image_size must be >= {MIN_IMAGE_SIZE}, got {synth.image_size}")
    if not 0.0 <= synth.ambiguity <= MAX_AMBIGUITY:
        raise FairvisionError(f"synth.ambiguity must be in [0, {MAX_AMBIGUITY}], got {synth.ambiguity}")
    for name, prevalence in synth.hidden.items():
        if name not in HIDDEN:
            raise FairvisionError(f"synth.hidden: unknown hidden attribute {name!r}; known: {', '.join(HIDDEN)}")
        if not 0.0 <= prevalence <= 1.0:
            raise FairvisionError(f"synth.hidden.{name} must be a prevalence in [0, 1], got {prevalence}")
    bias = synth.bias
    if bias is None:
        return
    if not bias.where:
        raise FairvisionError("synth.bias.where must name one or more attributes")
    for attribute, value in bias.where.items():
        if attribute in HIDDEN_VALUES and attribute not in synth.hidden:
            raise FairvisionError(f"synth.bias.where.{attribute}: `synth.hidden` does not draw {attribute!r}")
        if value not in {**ATTRIBUTE_VALUES, **HIDDEN_VALUES}.get(attribute, ()):
            raise FairvisionError(f"synth.bias.where: {attribute}={value!r} is not a value of a FairFace "
                                  "or hidden attribute")


def _rows(synth: Synth) -> dict[str, list[_Row]]:
    """Both splits' rows in file order, plant applied: the single source for CSVs and images."""
    # Children are told apart by their index alone, so the fourth (hidden attributes) leaves the first three as
    # they were before it existed, and with `hidden: {}` it is never read.
    train_rng, val_rng, plant_rng, hidden_rng = np.random.default_rng(synth.seed).spawn(4)
    train = _draw_rows(train_rng, synth.n_train, synth.ambiguity)
    val = _draw_rows(val_rng, synth.n_val, synth.ambiguity, balance_gender=True)
    if synth.hidden:
        train, val = _draw_hidden(hidden_rng, synth.hidden, (train, val))
    if synth.bias is not None:
        train, val = _plant_train(train, synth.bias, plant_rng), _weaken_cue(val, synth.bias)
    return {"train": train, "val": val}


def _plant_train(rows: list[_Row], bias: Bias, rng: np.random.Generator) -> list[_Row]:
    """All three plants; labels are flipped after the drop so the noise share is of the kept rows."""
    return _weaken_cue(_flip_labels(_keep_share(rows, bias, rng), bias, rng), bias)


def _draw_rows(rng: np.random.Generator, n: int, ambiguity: float, balance_gender: bool = False) -> list[_Row]:
    """Attributes drawn independently per row: race and gender uniform, age like FairFace.

    ``balance_gender`` splits each race group's rows evenly between the genders (the
    test split), so a race group's selection-rate gap measures the model, not the draw.
    """
    races = rng.integers(len(ATTRIBUTE_VALUES["race"]), size=n)
    genders = rng.integers(len(ATTRIBUTE_VALUES["gender"]), size=n)
    if balance_gender:
        for race in range(len(ATTRIBUTE_VALUES["race"])):
            members = np.flatnonzero(races == race)
            genders[members] = rng.permutation(np.arange(len(members)) % 2)
    ages = rng.choice(len(ATTRIBUTE_VALUES["age"]), size=n, p=AGE_PROBABILITIES)
    services = rng.integers(len(SERVICE_TEST_VALUES), size=n)
    seeds = rng.integers(2**63, size=n)
    lengths = _hair_lengths(rng, genders == ATTRIBUTE_VALUES["gender"].index("Female"), ambiguity)
    return [
        _Row(
            age=ATTRIBUTE_VALUES["age"][age],
            gender=ATTRIBUTE_VALUES["gender"][gender],
            race=ATTRIBUTE_VALUES["race"][race],
            service_test=SERVICE_TEST_VALUES[service],
            seed=int(seed),
            label=ATTRIBUTE_VALUES["gender"][gender],
            hair_length=float(length),
        )
        for race, gender, age, service, seed, length in zip(races, genders, ages, services, seeds, lengths)
    ]


def _hair_lengths(rng: np.random.Generator, female: np.ndarray, ambiguity: float) -> np.ndarray:
    """Each gender's typical length plus a spread that puts ``ambiguity`` of it past 0.5.

    The normal draws are taken whatever ``ambiguity`` is, so changing it moves hair lengths
    and nothing else; the draw ignores every attribute but gender, so no group is harder.
    """
    spread = 0.0 if ambiguity == 0 else -0.5 / NormalDist().inv_cdf(ambiguity)
    return np.clip(female + spread * rng.standard_normal(len(female)), 0.0, 1.0)


def _draw_hidden(rng: np.random.Generator, hidden: Mapping[str, float],
                 splits: tuple[list[_Row], ...]) -> tuple[list[_Row], ...]:
    """Each split's rows with their hidden attributes, before the plant (which may select on them).

    Each attribute draws from its own stream per split (children by the attribute's place in
    ``HIDDEN_VALUES`` and the split's), so turning one on or changing its prevalence moves no
    other draw; a face gets the second value where its uniform draw is below the prevalence,
    so a higher prevalence only adds faces.
    """
    values: list[list[dict[str, str]]] = [[{} for _ in rows] for rows in splits]
    for stream, (name, (usual, drawn)) in zip(rng.spawn(len(HIDDEN_VALUES)), HIDDEN_VALUES.items()):
        if name not in hidden:
            continue
        for split_stream, rows, row_values in zip(stream.spawn(len(splits)), splits, values):
            for face, uniform in zip(row_values, split_stream.random(len(rows))):
                face[name] = drawn if uniform < hidden[name] else usual
    return tuple([dataclasses.replace(row, hidden=tuple(face.items())) for row, face in zip(rows, row_values)]
                 for rows, row_values in zip(splits, values))


def _is_planted(row: _Row, bias: Bias) -> bool:
    return all(row.value(attribute) == value for attribute, value in bias.where.items())


def _pick(rng: np.random.Generator, rows: list[_Row], bias: Bias, share: float) -> set[int]:
    """Indices of a seeded random ``share`` (rounded) of the planted rows."""
    planted = [index for index, row in enumerate(rows) if _is_planted(row, bias)]
    return set(rng.permutation(planted)[: round(share * len(planted))].tolist())


def _keep_share(rows: list[_Row], bias: Bias, rng: np.random.Generator) -> list[_Row]:
    """Under-representation: drop all but ``train_fraction`` of the planted group's rows."""
    kept = _pick(rng, rows, bias, bias.train_fraction)
    return [row for index, row in enumerate(rows) if index in kept or not _is_planted(row, bias)]


def _flip_labels(rows: list[_Row], bias: Bias, rng: np.random.Generator) -> list[_Row]:
    """Label noise: the CSV says the other gender for ``label_noise`` of the planted rows."""
    flipped = _pick(rng, rows, bias, bias.label_noise)
    male, female = ATTRIBUTE_VALUES["gender"]
    return [
        dataclasses.replace(row, label=female if row.gender == male else male) if index in flipped else row
        for index, row in enumerate(rows)
    ]


def _weaken_cue(rows: list[_Row], bias: Bias) -> list[_Row]:
    """Contrast: the planted group's hair is drawn closer to the background colour."""
    return [dataclasses.replace(row, contrast=bias.contrast) if _is_planted(row, bias) else row for row in rows]


def _file(split: str, number: int) -> str:
    return f"{split}/{number}.jpg"


def _write_csv(path: Path, split: str, rows: list[_Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(
            (_file(split, number), row.age, row.label, row.race, row.service_test)
            for number, row in enumerate(rows, start=1)
        )


def _write_hidden_csv(path: Path, names: tuple[str, ...], splits: dict[str, list[_Row]]) -> None:
    """``file`` (as in the label CSVs, same order), then each hidden attribute's value."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("file", *names))
        writer.writerows(
            (_file(split, number), *(row.value(name) for name in names))
            for split, rows in splits.items()
            for number, row in enumerate(rows, start=1)
        )


def _images(splits: dict[str, list[_Row]], size: int) -> Iterator[tuple[str, bytes]]:
    """(zip entry name, JPEG bytes) in CSV order, rendered lazily to keep memory flat."""
    for split, rows in splits.items():
        for number, row in enumerate(rows, start=1):
            yield _file(split, number), _jpeg(_render(row, size))


def _write_zip(path: Path, entries: Iterable[tuple[str, bytes]]) -> None:
    """Stored (JPEG does not deflate) entries with fixed metadata, so equal input gives equal bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, whichever OS writes it
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _render(row: _Row, size: int) -> Image.Image:
    """Draw one face from the row's own seed: hair first, then everything that covers it."""
    rng = np.random.default_rng(row.seed)
    race, age = _RACE_STYLES[row.race], _AGE_STYLES[row.age]
    canvas = size * SUPERSAMPLE
    background = _jitter(rng, BACKGROUND, 14)
    hair = _mix(background, _mix(_jitter(rng, HAIR, 18), SILVER, age.grey), row.contrast)
    skin = _jitter(rng, race.skin, 8)
    scale = age.scale * rng.uniform(0.92, 1.08) * canvas
    face = _Face(
        cx=(0.5 + rng.uniform(-0.05, 0.05)) * canvas,
        cy=(0.45 + rng.uniform(-0.04, 0.04)) * canvas,
        rw=0.18 * scale * race.aspect,
        rh=0.24 * scale,
    )
    image = Image.new("RGB", (canvas, canvas), _rgb(background))
    draw = ImageDraw.Draw(image)
    _draw_hair(draw, face, row.hair_length, _rgb(hair))
    draw.ellipse(face.box(-2.8, 1.45, 2.8, 4.6), fill=_rgb(tuple(rng.uniform(40, 220, 3))))  # shoulders
    draw.rectangle(face.box(-0.42, 0.4, 0.42, 1.6), fill=_rgb(_mix(skin, (0.0, 0.0, 0.0), 0.12)))  # neck
    draw.ellipse(face.box(-1, -1, 1, 1), fill=_rgb(skin))
    draw.chord(face.box(-1.0, -1.06, 1.0, -0.36), 180, 360, fill=_rgb(hair))  # hairline over the forehead
    _draw_features(draw, face, skin, age.lines, max(1, canvas // 64))
    looks = [HIDDEN[name] for name, value in row.hidden if value == HIDDEN_VALUES[name][1]]
    for look in looks:  # none of them draws from rng: the same face, the same noise, with or without
        if look.over_face is not None:
            look.over_face(draw, face, skin, max(1, canvas // 64))
    image = image.reduce(SUPERSAMPLE)
    for look in looks:
        if look.over_image is not None:
            image = look.over_image(image)
    return _add_noise(image, rng)


def _draw_hair(draw: ImageDraw.ImageDraw, face: _Face, length: float, colour: tuple[int, int, int]) -> None:
    """The gender cue: a crown over the head and, the longer the hair, a curtain further below the chin."""
    draw.ellipse(face.box(*_mix(CROWN_SHORT, CROWN_LONG, length)), fill=colour)
    if length > 0:  # a zero-height curtain would still draw a one-pixel line
        curtain = face.box(*_mix(CURTAIN_SHORT, CURTAIN_LONG, length))
        draw.rounded_rectangle(curtain, radius=0.4 * length * face.rw, fill=colour)


def _draw_features(draw: ImageDraw.ImageDraw, face: _Face, skin: Colour, lines: int, width: int) -> None:
    """Eyes, nose, mouth and the age's forehead lines; identical for both genders."""
    for side in (-1, 1):
        draw.ellipse(face.box(side * 0.38 - 0.14, -0.13, side * 0.38 + 0.14, 0.03), fill=_rgb(EYES))
    draw.line(face.box(0.0, 0.05, 0.0, 0.32), fill=_rgb(_mix(skin, (0.0, 0.0, 0.0), 0.25)), width=width)
    draw.ellipse(face.box(-0.32, 0.5, 0.32, 0.64), fill=_rgb(_mix(skin, LIPS, 0.6)))
    wrinkle = _rgb(_mix(skin, (0.0, 0.0, 0.0), 0.3))
    for line in range(lines):
        draw.line(face.box(-0.4, -0.6 + 0.1 * line, 0.4, -0.6 + 0.1 * line), fill=wrinkle, width=width)


def _draw_glasses(draw: ImageDraw.ImageDraw, face: _Face, skin: Colour, width: int) -> None:
    """Dark lenses in near-black frames over both eyes, a bridge between them and temples to the face's edge."""
    frames, lens = _rgb(FRAMES), _rgb(_mix(skin, FRAMES, LENS_TINT))
    for side in (-1, 1):
        draw.rounded_rectangle(face.box(side * 0.38 - 0.24, -0.24, side * 0.38 + 0.24, 0.13), radius=0.08 * face.rw,
                               fill=lens, outline=frames, width=2 * width)
        draw.line(face.box(side * 0.62, -0.14, side * 0.98, -0.18), fill=frames, width=2 * width)
    draw.line(face.box(-0.14, -0.1, 0.14, -0.1), fill=frames, width=2 * width)


def _dim(image: Image.Image) -> Image.Image:
    """Dim lighting: every channel at ``DIM`` of its level, so every contrast shrinks by the same share."""
    return image.point([round(level * DIM) for level in range(256)] * 3)


@dataclasses.dataclass(frozen=True)
class _Look:
    """How a hidden attribute's second value shows: drawn over the face, or applied to the whole image."""

    over_face: Callable[[ImageDraw.ImageDraw, _Face, Colour, int], None] | None = None  # on the supersampled canvas
    over_image: Callable[[Image.Image], Image.Image] | None = None  # on the final-size image, before its noise


# The hidden attributes' registry: one look per name of params.HIDDEN_VALUES (a test keeps the two equal).
HIDDEN: dict[str, _Look] = {
    "glasses": _Look(over_face=_draw_glasses),
    "lighting": _Look(over_image=_dim),
}


def _add_noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Mild sensor-like noise, so no two pixels of a flat region are equal."""
    pixels = np.asarray(image, dtype=np.float32)
    pixels += (rng.random(pixels.shape, dtype=np.float32) - 0.5) * (2 * NOISE_AMPLITUDE)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def _jitter(rng: np.random.Generator, colour: Colour, spread: float) -> Colour:
    return tuple(np.clip(np.asarray(colour) + rng.uniform(-spread, spread, 3), 0.0, 255.0).tolist())


def _mix(start: tuple[float, ...], end: tuple[float, ...], share: float) -> tuple[float, ...]:
    """The colour (or box) ``share`` of the way from ``start`` to ``end``."""
    return tuple(a + share * (b - a) for a, b in zip(start, end))


def _rgb(colour: Iterable[float]) -> tuple[int, int, int]:
    red, green, blue = (int(round(channel)) for channel in colour)
    return red, green, blue
