"""Load and validate params.yaml into typed, frozen sections: the one place knobs are read.

Every stage takes the section it needs, so a typo in params.yaml fails fast with the
field's dotted name instead of surfacing as a KeyError deep inside a stage.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from fairvision.errors import FairvisionError
from fairvision.data.fairface import ATTRIBUTE_VALUES

METRIC_NAMES = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
    "error_rate_difference",
)


@dataclasses.dataclass(frozen=True)
class Bias:
    attribute: str
    group: str
    train_fraction: float
    contrast: float
    label_noise: float


@dataclasses.dataclass(frozen=True)
class Synth:
    seed: int
    n_train: int
    n_val: int
    image_size: int
    bias: Bias | None


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    format: str
    path: str
    padding: float
    target: str
    protected: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Prepare:
    val_fraction: float
    shard_size: int


@dataclasses.dataclass(frozen=True)
class Train:
    seed: int
    image_size: int
    batch_size: int
    epochs: int
    learning_rate: float
    shuffle_buffer: int


@dataclasses.dataclass(frozen=True)
class Evaluate:
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Audit:
    privileged: Mapping[str, str]
    favorable_label: str
    min_group_size: int
    tolerance: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class Params:
    synth: Synth
    dataset: Dataset
    prepare: Prepare
    train: Train
    backbones: Mapping[str, Mapping[str, Any]]
    evaluate: Evaluate
    audit: Audit


class _Section:
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

    def section(self, key: str) -> "_Section":
        return _Section(self._get(key), f"{self.name}.{key}", self.source)

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

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise self._fail(key, "a non-empty string", value)
        return value


def _bias(root: _Section) -> Bias | None:
    if root.raw("bias") in ("none", None):
        return None
    bias = root.section("bias")
    attribute = bias.choice("attribute", tuple(ATTRIBUTE_VALUES))
    return Bias(
        attribute=attribute,
        group=bias.choice("group", ATTRIBUTE_VALUES[attribute]),
        train_fraction=bias.number("train_fraction", 0.0, 1.0),
        contrast=bias.number("contrast", 0.0, 1.0),
        label_noise=bias.number("label_noise", 0.0, 0.5),
    )


def _dataset(root: _Section) -> Dataset:
    target = root.choice("target", tuple(ATTRIBUTE_VALUES))
    protected = root.raw("protected")
    if not isinstance(protected, list) or not protected or any(p not in ATTRIBUTE_VALUES for p in protected):
        raise root._fail("protected", f"a non-empty list drawn from {', '.join(ATTRIBUTE_VALUES)}", protected)
    return Dataset(
        name=root.text("name"),
        format=root.choice("format", ("fairface",)),
        path=root.text("path"),
        padding=float(root.choice("padding", (0.25, 1.25))),
        target=target,
        protected=tuple(protected),
    )


def _audit(root: _Section, protected: tuple[str, ...]) -> Audit:
    privileged = root.section("privileged")
    chosen = {}
    for attribute in protected:
        value = privileged.data.get(attribute, "auto")
        if value != "auto" and value not in ATTRIBUTE_VALUES[attribute]:
            raise privileged._fail(attribute, f"`auto` or one of {', '.join(ATTRIBUTE_VALUES[attribute])}", value)
        chosen[attribute] = value
    tolerance = root.section("tolerance")
    return Audit(
        privileged=chosen,
        favorable_label=root.text("favorable_label"),
        min_group_size=root.integer("min_group_size"),
        tolerance={name: tolerance.number(name, 0.0, 1.0) for name in METRIC_NAMES},
    )


def _backbones(root: _Section) -> dict[str, dict[str, Any]]:
    from fairvision.models.backbones import BACKBONES

    chosen = {}
    for name, options in root.data.items():
        if name not in BACKBONES:
            raise FairvisionError(
                f"{root.source}: unknown backbone `backbones.{name}`; known: {', '.join(sorted(BACKBONES))}"
            )
        if options is not None and not isinstance(options, dict):
            raise root._fail(name, "a mapping of options", options)
        chosen[name] = dict(options or {})
    if not chosen:
        raise FairvisionError(f"{root.source}: `backbones` lists no backbone")
    return chosen


def load_params(path: str | os.PathLike[str] = "params.yaml") -> Params:
    """Parse and validate params.yaml; raises FairvisionError naming the bad field."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairvisionError(f"{source}: no such parameters file") from None
    except yaml.YAMLError as error:
        raise FairvisionError(f"{source}: not valid YAML: {error}") from None
    root = _Section(data, "params", source)
    synth, dataset, prepare = root.section("synth"), _dataset(root.section("dataset")), root.section("prepare")
    train, evaluate = root.section("train"), root.section("evaluate")
    return Params(
        synth=Synth(
            seed=synth.integer("seed", 0),
            n_train=synth.integer("n_train"),
            n_val=synth.integer("n_val"),
            image_size=synth.integer("image_size", 16),
            bias=_bias(synth),
        ),
        dataset=dataset,
        prepare=Prepare(val_fraction=prepare.number("val_fraction", 0.0, 0.9), shard_size=prepare.integer("shard_size")),
        train=Train(
            seed=train.integer("seed", 0),
            image_size=train.integer("image_size", 16),
            batch_size=train.integer("batch_size"),
            epochs=train.integer("epochs"),
            learning_rate=train.number("learning_rate", 1e-7, 1.0),
            shuffle_buffer=train.integer("shuffle_buffer"),
        ),
        backbones=_backbones(root.section("backbones")),
        evaluate=Evaluate(batch_size=evaluate.integer("batch_size")),
        audit=_audit(root.section("audit"), dataset.protected),
    )
