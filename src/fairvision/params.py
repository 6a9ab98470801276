"""Load and validate params.yaml into typed, frozen sections: the one place knobs are read.

Every stage takes the section it needs, so a typo in params.yaml fails fast with the
field's dotted name instead of surfacing as a KeyError deep inside a stage.

A schema, and every stage's dependency: it imports no stage's package. The few vocabularies
it checks are plain data here (FairFace's attribute values, the source formats, the interval
methods) or core (``groups.partition_name``); a name only a stage's registry knows (a backbone, a
metric of `audit.tolerance.metrics`) is checked by that stage before it does any work
(``models.backbones.require_backbone``, ``audit.tolerance.bands``), naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from fairvision.errors import FairvisionError
from fairvision.groups import partition_name
from fairvision.keys import key_problem

# FairFace's attributes and their values, as its published label CSVs spell them (data.fairface reads them,
# synth writes them, the audit orders groups by them).
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "race": (
        "White",
        "Black",
        "Latino_Hispanic",
        "East Asian",
        "Southeast Asian",
        "Indian",
        "Middle Eastern",
    ),
    "gender": ("Male", "Female"),
    "age": ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"),
}
FORMATS = ("fairface", "cloud_annotations", "image_folder")  # datasets.<D>.source.format: data.formats registers each
MULTI_LABEL_POLICIES = ("reject", "first")  # Cloud Annotations classification: an image with several labels
METHODS: tuple[str, ...] = ("simultaneous", "bonferroni", "none")  # audit.multiple_comparisons (audit.intervals)

PADDINGS = (0.25, 1.25)  # FairFace's two image zips: margin 0.25 and 1.25 around the face
MAX_AMBIGUITY = 0.45  # synth.ambiguity: at 0.5 hair length would say nothing about gender, leaving no cue to learn
# The synthetic generator's hidden attributes (`synth.hidden`), each with its usual value and the one its prevalence
# draws; data.synthetic renders each (its registry names exactly these) and writes them to a side file fairvision
# never reads. Plain data here, like ATTRIBUTE_VALUES, so `synth.bias.where` can be checked before any work.
HIDDEN_VALUES: dict[str, tuple[str, str]] = {
    "glasses": ("no", "yes"),  # dark frames and lenses over the eyes
    "lighting": ("normal", "dim"),  # the whole image darker, every contrast (the gender cue's too) lower
}


@dataclasses.dataclass(frozen=True)
class Bias:
    """The plant: rows whose every attribute in ``where`` has its value (one group, or an intersection)."""

    where: Mapping[str, str]  # FairFace (race, gender, age) or hidden attribute -> value, e.g. {"race": "Black"}
    train_fraction: float
    contrast: float
    label_noise: float

    def describe(self) -> str:
        """``race=Black × glasses=yes``: the planted rows, for messages."""
        return " × ".join(f"{attribute}={value}" for attribute, value in self.where.items())


@dataclasses.dataclass(frozen=True)
class Synth:
    seed: int
    n_train: int
    n_val: int
    image_size: int
    ambiguity: float  # share of each gender whose hair looks like the other's: the best accuracy is 1 - ambiguity
    bias: Bias | None
    padding: float = PADDINGS[0]  # which of FairFace's zips it writes (its file name says the margin)
    # Hidden attribute -> prevalence (share of faces with its second value), in HIDDEN_VALUES' order; {} draws none.
    hidden: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str  # its key under `datasets`: the folder under data/prepared/, models/, audits/ and reports/
    format: str  # one of FORMATS, each opened by its registered opener in data.formats
    path: str  # a local folder or s3://bucket/prefix
    padding: float  # FairFace only: which image zip
    target: str  # FairFace: race, gender or age; other formats: "label"
    protected: tuple[str, ...]  # may be empty: then the audit reports per-label performance only
    attributes: str | None = None  # side CSV key under `path` (cloud_annotations, image_folder)
    multi_label: str = "reject"  # cloud_annotations classification: an image with several labels
    # The audit's dataset-specific settings: which partitions exist depends on the protected attributes.
    reference: Mapping[str, str] = dataclasses.field(default_factory=dict)  # partition name -> group or "auto"
    intersections: tuple[tuple[str, ...], ...] = ()

    def key(self, field: str) -> str:
        """The dotted params.yaml key of one of this dataset's fields, for error messages."""
        return f"datasets.{self.name}.{'source.' if field in SOURCE_FIELDS else ''}{field}"


# Fields under `datasets.<name>.source`: where and how `prepare` reads the images (a change reruns prepare).
SOURCE_FIELDS = ("format", "path", "padding", "attributes", "multi_label")


LABEL_TARGET = "label"  # dataset.target for formats whose label is the annotation or folder, not an attribute

# prepare.max_image_bytes's default, sized for photos (a 24-megapixel JPEG is 5-15 MB): `prepare` holds one image per
# CPU in memory, so the limit, checked before any byte is read, is what bounds its memory.
MAX_IMAGE_BYTES = 20 * 2**20


@dataclasses.dataclass(frozen=True)
class Prepare:
    val_fraction: float
    shard_size: int
    max_image_pixels: int = 40_000_000  # larger images are rejected, read from the header before decoding
    max_image_bytes: int = MAX_IMAGE_BYTES  # larger image files are rejected, by the size they declare, unread
    max_reject_fraction: float = 0.01  # above this share of rejected rows, prepare fails instead of going on
    test_fraction: float = 0.2  # share carved out as test when the source has no test split of its own


# Upper bound of each strength (all start at 0, off): a crop of the whole side would leave no image.
AUGMENT_LIMITS = {"crop": 0.9, "brightness": 1.0, "contrast": 1.0}


@dataclasses.dataclass(frozen=True)
class Augment:
    """Which augmentations to draw, each per image; the default (all off) is the identity."""

    flip: bool = False  # mirror left-right with probability 1/2
    crop: float = 0.0  # cut up to this fraction of each side away, at a random place, then resize back
    brightness: float = 0.0  # add up to ± this fraction of the 0-255 range
    contrast: float = 0.0  # scale the distance from each channel's mean by a factor in [1 - contrast, 1 + contrast]

    def __post_init__(self) -> None:
        if not isinstance(self.flip, bool):
            raise ValueError(f"Augment: `flip` must be true or false, got {self.flip!r}")
        for name, high in AUGMENT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= high:
                raise ValueError(f"Augment: `{name}` must be a number in [0, {high}], got {value!r}")

    @property
    def active(self) -> bool:
        """Whether any augmentation is on: when off, callers skip the work (and the seed) entirely."""
        return self.flip or self.crop > 0 or self.brightness > 0 or self.contrast > 0


@dataclasses.dataclass(frozen=True)
class Train:
    seeds: tuple[int, ...]  # one trained model per seed (init, data order, augmentation); the first is served
    image_size: int
    batch_size: int
    epochs: int
    learning_rate: float
    shuffle_buffer: int
    early_stopping_patience: int = 0  # stop once the validation loss has not improved for this many epochs; 0 = off
    augment: Augment = Augment()  # training only: evaluation and serving never augment; all off = the identity
    cache: bool = False  # keep the decoded splits in memory after the first epoch


@dataclasses.dataclass(frozen=True)
class Evaluate:
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    resamples: int
    seed: int
    level: float


Band = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """`audit.tolerance`: a band per kind of comparison, and per-metric overrides (``audit.tolerance.bands`` resolves
    them per metric, where the metrics are known)."""

    difference: float  # a difference within ±difference passes
    ratio: Band  # a ratio within [low, high] passes
    metrics: Mapping[str, float | Band]  # metric name -> its own bound (a difference) or band (a ratio)
    source: str = "params.yaml"  # the file it came from, for error messages


@dataclasses.dataclass(frozen=True)
class Audit:
    favorable_label: str
    min_group_size: int
    min_events: int
    bootstrap: Bootstrap
    multiple_comparisons: str
    tolerance: Tolerance


@dataclasses.dataclass(frozen=True)
class Check:
    difference_margin: float  # a difference may move this much further from 0 before it is a regression
    ratio_margin: float  # a ratio may move this share further from 1 (on the log scale) before it is one
    # metric name -> how far two single training runs' distances from parity differ (|d|, or |ln r| for a
    # ratio); which names exist is the gate's check (``audit.gate``); absent = 0
    training_noise: Mapping[str, float] = dataclasses.field(default_factory=dict)


# LIME's segmentation algorithms (skimage.segmentation) and the options each takes: positive numbers, integers
# where SEGMENTATION_COUNTS says so.
SEGMENTATION_COUNTS = ("n_segments", "min_size")
SEGMENTATIONS = {
    "quickshift": ("kernel_size", "max_dist", "ratio", "sigma"),
    "slic": ("n_segments", "compactness", "sigma"),
    "felzenszwalb": ("scale", "sigma", "min_size"),
}


@dataclasses.dataclass(frozen=True)
class Lime:
    images_per_group: int  # LIME explains the first this many of each group's sampled images (it is the slow one)
    samples: int  # perturbed images per explanation
    batch_size: int  # perturbed images per call of the model
    segmentation: str  # a key of SEGMENTATIONS
    segmentation_options: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class Explain:
    methods: tuple[str, ...]
    images_per_group: int  # test images per group of each protected attribute, half correct, half not where possible
    seed: int
    lime: Lime
    integrated_gradients_steps: int
    resamples: int  # bootstrap and permutation draws per disparity score
    level: float  # confidence level of the disparity intervals; 1 - level is the permutation test's alpha
    faithfulness_steps: int  # points on each deletion / insertion curve after the first
    faithfulness_images_per_group: int  # the first this many of each group's sampled images are scored


@dataclasses.dataclass(frozen=True)
class Params:
    synth: Synth
    datasets: Mapping[str, Dataset]  # name -> dataset; every backbone is trained and audited on each
    prepare: Prepare
    train: Train
    backbones: Mapping[str, Mapping[str, Any]]
    evaluate: Evaluate
    audit: Audit
    check: Check
    explain: Explain


class Section:
    """Reads one mapping of params.yaml, naming the dotted key in every error."""

    def __init__(self, data: Any, name: str, source: str):
        if not isinstance(data, dict):
            raise FairvisionError(f"{source}: `{name}` must be a mapping, got {data!r}")
        self.data, self.name, self.source = data, name, source

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise FairvisionError(f"{self.source}: missing `{self.name}.{key}`")
        return self.data[key]

    def _fail(self, key: str, expected: str, value: Any) -> FairvisionError:
        return FairvisionError(f"{self.source}: `{self.name}.{key}` must be {expected}, got {value!r}")

    def section(self, key: str) -> "Section":
        return Section(self._get(key), f"{self.name}.{key}", self.source)

    def only(self, *keys: str) -> "Section":
        """This section, once it holds no key but ``keys`` (a misspelt optional key would go unnoticed)."""
        unknown = [key for key in self.data if key not in keys]
        if unknown:
            raise FairvisionError(f"{self.source}: unknown key `{self.name}.{unknown[0]}`; known: {', '.join(keys)}")
        return self

    def raw(self, key: str) -> Any:
        return self._get(key)

    def integer(self, key: str, minimum: int = 1) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._fail(key, f"an integer >= {minimum}", value)
        return value

    def number(self, key: str, low: float, high: float) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self._fail(key, f"a number in [{low}, {high}]", value)
        return float(value)

    def choice(self, key: str, choices: tuple[str, ...] | list[str]) -> str:
        value = self._get(key)
        if value not in choices:
            raise self._fail(key, f"one of {', '.join(map(str, choices))}", value)
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise self._fail(key, "a non-empty string", value)
        return value

    def matching(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        """A string ``pattern`` matches in full (a number is read as written: YAML's ``cpu: 2`` or ``cpu: 0.5``)."""
        value = self._get(key)
        text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not pattern.fullmatch(text):
            raise self._fail(key, expected, value)
        return text


def _hidden(root: Section) -> dict[str, float]:
    """synth.hidden: hidden attribute -> prevalence in [0, 1], in HIDDEN_VALUES' order; absent, none or {}: none."""
    if root.data.get("hidden") in ("none", None):
        return {}
    hidden = root.section("hidden").only(*HIDDEN_VALUES)
    return {name: hidden.number(name, 0.0, 1.0) for name in HIDDEN_VALUES if name in hidden.data}


def _bias(root: Section, hidden: Mapping[str, float]) -> Bias | None:
    """synth.bias: `where` (one attribute or an intersection) or the one-attribute form `attribute` + `group`."""
    if root.raw("bias") in ("none", None):
        return None
    bias = root.section("bias").only("where", "attribute", "group", "train_fraction", "contrast", "label_noise")
    if "where" in bias.data:
        if "attribute" in bias.data or "group" in bias.data:
            raise FairvisionError(f"{bias.source}: `{bias.name}` takes `where` or `attribute` with `group`, not both")
        where = bias.section("where")
        if not where.data:
            raise FairvisionError(f"{where.source}: `{where.name}` must name one or more attributes, got {{}}")
        planted = {_planted_attribute(where, attribute, hidden): _planted_value(where, attribute, attribute)
                   for attribute in where.data}
    else:
        attribute = _planted_attribute(bias, bias.raw("attribute"), hidden, key="attribute")
        planted = {attribute: _planted_value(bias, "group", attribute)}
    return Bias(
        where=planted,
        train_fraction=bias.number("train_fraction", 0.0, 1.0),
        contrast=bias.number("contrast", 0.0, 1.0),
        label_noise=bias.number("label_noise", 0.0, 0.5),
    )


def _planted_attribute(section: Section, attribute: Any, hidden: Mapping[str, float], key: str | None = None) -> str:
    """A FairFace attribute, or a hidden one `synth.hidden` draws (``key``: the field naming it, else the name)."""
    where = f"`{section.name}.{key or attribute}`"
    name = attribute if isinstance(attribute, str) else None  # a YAML key such as a bare `yes` is no name
    if name in HIDDEN_VALUES and name not in hidden:
        raise FairvisionError(f"{section.source}: {where} names the hidden attribute {name!r}, which "
                              f"`synth.hidden` does not draw (add `{name}: <prevalence>` there)")
    if name is None or name not in ATTRIBUTE_VALUES and name not in HIDDEN_VALUES:
        known = ", ".join([*ATTRIBUTE_VALUES, *hidden])
        if key is None:
            raise FairvisionError(f"{section.source}: unknown attribute {where}; known: {known}")
        raise section._fail(key, f"one of {known}", attribute)
    return name


def _planted_value(section: Section, key: str, attribute: str) -> str:
    values = {**ATTRIBUTE_VALUES, **HIDDEN_VALUES}[attribute]
    value = section.raw(key)
    if isinstance(value, bool):
        raise section._fail(key, f"one of {', '.join(values)}, quoted (YAML reads a bare yes or no as true or false)",
                            value)
    return section.choice(key, values)


# prepare.max_image_pixels: at most Pillow's own decompression-bomb threshold (PIL.Image.MAX_IMAGE_PIXELS),
# so prepare's size check, not a Pillow warning, is what rejects every image Pillow would warn about.
MAX_IMAGE_PIXELS_CEILING = 89_478_485
# prepare.max_image_bytes: at most what one TFRecord example (a protobuf message, under 2 GiB) can carry.
MAX_IMAGE_BYTES_CEILING = 2**31 - 1


def _prepare(root: Section) -> Prepare:
    val_fraction, shard_size = root.number("val_fraction", 0.0, 0.9), root.integer("shard_size")
    pixels = root.integer("max_image_pixels")
    if pixels > MAX_IMAGE_PIXELS_CEILING:
        raise root._fail("max_image_pixels", f"an integer in [1, {MAX_IMAGE_PIXELS_CEILING}]", pixels)
    image_bytes = root.raw("max_image_bytes")
    if (isinstance(image_bytes, bool) or not isinstance(image_bytes, int)
            or not 1 <= image_bytes <= MAX_IMAGE_BYTES_CEILING):
        raise root._fail("max_image_bytes", f"an integer in [1, {MAX_IMAGE_BYTES_CEILING}]", image_bytes)
    return Prepare(val_fraction=val_fraction, shard_size=shard_size, max_image_pixels=pixels,
                   max_image_bytes=image_bytes, max_reject_fraction=root.number("max_reject_fraction", 0.0, 1.0),
                   test_fraction=root.number("test_fraction", 0.05, 0.5))


def _datasets(root: Section) -> dict[str, Dataset]:
    if not root.data:
        raise FairvisionError(f"{root.source}: `datasets` names no dataset")
    for name in root.data:
        if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
            raise FairvisionError(f"{root.source}: dataset name `datasets.{name}` must be letters, digits, `_` or "
                                  "`-`, starting with a letter or digit (it names folders)")
    return {name: _dataset(root.section(name), name) for name in root.data}


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _dataset(root: Section, name: str) -> Dataset:
    source = root.section("source").only(*SOURCE_FIELDS)
    data_format = source.choice("format", FORMATS)
    fairface = data_format == "fairface"
    target = root.choice("target", tuple(ATTRIBUTE_VALUES) if fairface else (LABEL_TARGET,))
    protected = root.raw("protected")
    if fairface:
        allowed = f"a list drawn from {', '.join(a for a in ATTRIBUTE_VALUES if a != target)}"
        valid = isinstance(protected, list) and all(p in ATTRIBUTE_VALUES and p != target for p in protected)
    else:
        allowed = "a list of attribute names from the `attributes` CSV (or [] for none)"
        valid = isinstance(protected, list) and all(isinstance(p, str) and p for p in protected)
    if not valid or len(set(protected)) != len(protected):
        raise root._fail("protected", f"{allowed}, without repeats", protected)
    attributes = source.data.get("attributes")
    if attributes is not None and (fairface or not isinstance(attributes, str) or key_problem(attributes)):
        expected = ("absent for fairface (its CSVs hold the attributes)" if fairface
                    else "null or the key of a CSV in the dataset folder, e.g. attributes.csv")
        raise source._fail("attributes", expected, attributes)
    if protected and not fairface and attributes is None:
        raise root._fail("protected", "[] when `source.attributes` names no attribute table", protected)
    intersections = _intersections(root, tuple(protected))
    return Dataset(
        name=name,
        format=data_format,
        path=source.text("path"),
        padding=float(source.choice("padding", PADDINGS)) if fairface else PADDINGS[0],
        target=target,
        protected=tuple(protected),
        attributes=attributes,
        multi_label=source.choice("multi_label", MULTI_LABEL_POLICIES) if "multi_label" in source.data else "reject",
        reference=_reference(root, data_format, tuple(protected), intersections),
        intersections=intersections,
    )


def _reference(root: Section, data_format: str, protected: tuple[str, ...],
               intersections: tuple[tuple[str, ...], ...]) -> dict[str, str]:
    """The reference group of every audited partition: its entry under `reference`, else ``auto``."""
    given = root.section("reference") if root.raw("reference") is not None else None
    partitions = [partition_name((attribute,)) for attribute in protected] + [partition_name(i) for i in intersections]
    for name in (given.data if given else {}):
        if name not in partitions:
            raise FairvisionError(f"{root.source}: `{root.name}.reference.{name}` is not an audited partition; "
                                  f"audited: {', '.join(partitions) or 'none'}")
    chosen = {}
    for name in partitions:
        value = given.data.get(name, "auto") if given else "auto"
        if not isinstance(value, str) or not value:
            raise given._fail(name, "`auto` or a group of that partition", value)  # type: ignore[union-attr]
        known = ATTRIBUTE_VALUES.get(name) if data_format == "fairface" else None
        if known and value != "auto" and value not in known:
            raise given._fail(name, f"`auto` or one of {', '.join(known)}", value)  # type: ignore[union-attr]
        chosen[name] = value
    return chosen


def _audit(root: Section) -> Audit:
    bootstrap = root.section("bootstrap")
    return Audit(
        favorable_label=root.text("favorable_label"),
        min_group_size=root.integer("min_group_size"),
        min_events=root.integer("min_events", 0),
        bootstrap=Bootstrap(
            resamples=bootstrap.integer("resamples", 1),
            seed=bootstrap.integer("seed", 0),
            level=bootstrap.number("level", 0.5, 0.999),
        ),
        multiple_comparisons=root.choice("multiple_comparisons", METHODS),
        tolerance=_tolerance(root.section("tolerance")),
    )


def _intersections(root: Section, protected: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    value = root.raw("intersections")
    expected = (f"a list of lists of two or more distinct attributes of `protected` ({', '.join(protected)})"
                if protected else "[] (`protected` is empty)")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) >= 2 and len(set(item)) == len(item)
        and all(a in protected for a in item) for item in value
    ):
        raise root._fail("intersections", expected, value)
    return tuple(tuple(item) for item in value)


def _tolerance(root: Section) -> Tolerance:
    """The bands by kind, and each override: a bound in [0, 1] (a difference) or a band (a ratio)."""
    metrics: dict[str, float | Band] = {}
    if root.data.get("metrics") is not None:
        overrides = root.section("metrics")
        for name, value in overrides.data.items():
            if not isinstance(name, str) or not name:
                raise root._fail("metrics", "a mapping of metric names", overrides.data)
            is_band = isinstance(value, list)
            metrics[name] = _ratio_band(overrides, name) if is_band else overrides.number(name, 0.0, 1.0)
    return Tolerance(difference=root.number("difference", 0.0, 1.0), ratio=_ratio_band(root, "ratio"),
                     metrics=metrics, source=root.source)


def _ratio_band(root: Section, key: str) -> tuple[float, float]:
    value = root.raw(key)
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
            or not 0 <= value[0] <= 1 <= value[1]):
        raise root._fail(key, "a pair [low, high] with 0 <= low <= 1 <= high", value)
    return float(value[0]), float(value[1])


def _augment(root: Section) -> Augment:
    return Augment(flip=root.boolean("flip"),
                   **{name: root.number(name, 0.0, high) for name, high in AUGMENT_LIMITS.items()})


def check_section(data: Any, source: str) -> Check:
    """Only the `check` section of a parsed params.yaml: the gate reads the baseline revision's, whatever else
    that revision's file holds."""
    return _check(Section(data, "params", source).section("check"))


MAX_SEEDS = 100  # each seed is a full training run: more is a typo, not a study


def _seeds(root: Section) -> tuple[int, ...]:
    """`train.seeds`: a non-empty list of distinct integers >= 0; the first is the one served and explained."""
    if "seed" in root.data:
        raise FairvisionError(f"{root.source}: `{root.name}.seed` was replaced by `{root.name}.seeds`, a list "
                              f"(write `seeds: [{root.data['seed']}]`)")
    seeds = root.raw("seeds")
    if (not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_SEEDS or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise root._fail("seeds", f"a list of 1 to {MAX_SEEDS} distinct integers >= 0, e.g. [0] or [0, 1, 2, 3, 4]",
                         seeds)
    return tuple(seeds)


def _check(root: Section) -> Check:
    noise: dict[str, float] = {}
    if root.data.get("training_noise") is not None:  # absent from params.yaml files older than the key
        allowances = root.section("training_noise")
        noise = {str(name): allowances.number(name, 0.0, 10.0) for name in allowances.data}
    return Check(
        difference_margin=root.number("difference_margin", 0.0, 1.0),
        ratio_margin=root.number("ratio_margin", 0.0, 10.0),
        training_noise=noise,
    )


def _explain(root: Section) -> Explain:
    methods = root.raw("methods")  # which names exist is the explain stage's check (explain.methods registry)
    if (not isinstance(methods, list) or not methods or len(set(methods)) != len(methods)
            or not all(isinstance(method, str) and _SAFE_NAME.fullmatch(method) for method in methods)):
        raise root._fail("methods", "a non-empty list of explainer names (e.g. gradcam, integrated_gradients, lime), "
                         "without repeats", methods)
    lime, bootstrap = root.section("lime"), root.section("bootstrap")
    images_per_group = root.integer("images_per_group")
    segmentation = lime.choice("segmentation", tuple(SEGMENTATIONS))
    options = lime.section("segmentation_options")
    for key in options.data:
        if key not in SEGMENTATIONS[segmentation]:
            raise FairvisionError(f"{root.source}: unknown key `{options.name}.{key}`; {segmentation} takes: "
                                  f"{', '.join(SEGMENTATIONS[segmentation])}")
    faithfulness = root.section("faithfulness")
    subsets = {section: section.integer("images_per_group") for section in (lime, faithfulness)}
    for section, value in subsets.items():
        if value > images_per_group:
            raise section._fail("images_per_group", f"an integer in [1, {images_per_group}] (at most "
                                "`explain.images_per_group`: a subset of the sample)", value)
    return Explain(
        methods=tuple(methods),
        images_per_group=images_per_group,
        seed=root.integer("seed", 0),
        lime=Lime(images_per_group=subsets[lime], samples=lime.integer("samples", 10),
                  batch_size=lime.integer("batch_size"), segmentation=segmentation,
                  segmentation_options={key: options.integer(key) if key in SEGMENTATION_COUNTS
                                        else options.number(key, 1e-9, 1e9) for key in options.data}),
        integrated_gradients_steps=root.section("integrated_gradients").integer("steps"),
        resamples=bootstrap.integer("resamples", 10),
        level=bootstrap.number("level", 0.5, 0.999),
        faithfulness_steps=faithfulness.integer("steps", 2),
        faithfulness_images_per_group=subsets[faithfulness],
    )


def _backbones(root: Section) -> dict[str, dict[str, Any]]:
    """Backbone names and options; whether a name is a known architecture is the train stage's check
    (``models.backbones.require_backbone``), so the schema does not load the model registry."""
    chosen = {}
    for name, options in root.data.items():
        if not isinstance(name, str) or not _BACKBONE_NAME.fullmatch(name):
            raise FairvisionError(
                f"{root.source}: backbone name `backbones.{name}` must be an architecture's name, optionally "
                "followed by +<variant> (letters, digits, `_`, `-`)"
            )
        if options is not None and not isinstance(options, dict):
            raise root._fail(name, "a mapping of options", options)
        chosen[name] = dict(options or {})
    if not chosen:
        raise FairvisionError(f"{root.source}: `backbones` lists no backbone")
    return chosen


_BACKBONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\+[A-Za-z0-9_-]+)*")


def read_params_file(path: str | os.PathLike[str]) -> Section:
    """params.yaml's top level, unvalidated; raises FairvisionError for a missing file or bad YAML."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairvisionError(f"{source}: no such parameters file") from None
    except yaml.YAMLError as error:
        raise FairvisionError(f"{source}: not valid YAML: {error}") from None
    return Section(data, "params", source)


def load_params(path: str | os.PathLike[str] = "params.yaml") -> Params:
    """Parse and validate params.yaml; raises FairvisionError naming the bad field."""
    root = read_params_file(path)
    synth, prepare = root.section("synth"), root.section("prepare")
    train, evaluate = root.section("train"), root.section("evaluate")
    hidden = _hidden(synth)
    return Params(
        synth=Synth(
            seed=synth.integer("seed", 0),
            n_train=synth.integer("n_train"),
            n_val=synth.integer("n_val"),
            image_size=synth.integer("image_size", 16),
            ambiguity=synth.number("ambiguity", 0.0, MAX_AMBIGUITY),
            bias=_bias(synth, hidden),
            padding=float(synth.choice("padding", PADDINGS)),
            hidden=hidden,
        ),
        datasets=_datasets(root.section("datasets")),
        prepare=_prepare(prepare),
        train=Train(
            seeds=_seeds(train),
            image_size=train.integer("image_size", 16),
            batch_size=train.integer("batch_size"),
            epochs=train.integer("epochs"),
            learning_rate=train.number("learning_rate", 1e-7, 1.0),
            shuffle_buffer=train.integer("shuffle_buffer"),
            early_stopping_patience=train.integer("early_stopping_patience", 0),
            augment=_augment(train.section("augment")),
            cache=train.boolean("cache"),
        ),
        backbones=_backbones(root.section("backbones")),
        evaluate=Evaluate(batch_size=evaluate.integer("batch_size")),
        audit=_audit(root.section("audit")),
        check=_check(root.section("check")),
        explain=_explain(root.section("explain")),
    )
