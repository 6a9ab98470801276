"""``explanations.json`` read back into frozen, typed records: the one reader of the explain stage's output.

The explain stage writes it (``stage``, which takes ``SCHEMA_VERSION`` and ``JSON_NAME`` from
here); the report reads it. Every key the report relies on is checked up front, and an error
names the file and the dotted key, so the user knows to rerun `fairvision explain`. Like the
audit's reader it imports no numpy, pandas or TensorFlow: the report stays light.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from fairvision.errors import FairvisionError
from fairvision.jsonread import Estimate, JsonReader, read_json

__all__ = ["JSON_NAME", "SCHEMA_VERSION", "AttributeMaps", "Curve", "Explanations", "Faithfulness", "GroupMap",
           "MethodResult", "read_explanations"]

SCHEMA_VERSION = 1  # written by the explain stage; any other version is refused with the command that rewrites it
JSON_NAME = "explanations.json"


@dataclasses.dataclass(frozen=True)
class GroupMap:
    """One group's mean map under one method: images explained, disparity from the reference group, its PNG.

    ``disparity`` is None for the reference group itself (nothing to compare); its value and interval are
    None where a map was flat. ``differs`` is the permutation test's verdict, None where it could not run.
    """

    n: int
    n_correct: int
    n_incorrect: int
    disparity: Estimate | None
    p_value: float | None
    differs: bool | None
    mean_map: str  # the mean map's PNG, relative to the folder holding explanations.json


@dataclasses.dataclass(frozen=True)
class AttributeMaps:
    """One protected attribute under one method: its reference group and each explained group's map."""

    reference: str
    reference_explained: bool
    groups: Mapping[str, GroupMap]


@dataclasses.dataclass(frozen=True)
class Curve:
    """One faithfulness curve (deletion or insertion): mean areas of the method and of the random map."""

    auc: float | None
    random_auc: float | None
    gain: Estimate  # the method's paired advantage over the random map, with its interval
    beats_random: bool


@dataclasses.dataclass(frozen=True)
class Faithfulness:
    """A method's deletion and insertion curves against a random map, on ``images`` test images."""

    images: int
    deletion: Curve
    insertion: Curve


@dataclasses.dataclass(frozen=True)
class MethodResult:
    """One explainer: images it explained, its maps per attribute, its faithfulness (None where nothing was scored)."""

    images: int
    attributes: Mapping[str, AttributeMaps]
    faithfulness: Faithfulness | None


@dataclasses.dataclass(frozen=True)
class Explanations:
    """``audits/<D>/<B>/explanations/explanations.json`` (schema_version 1), checked and typed.

    ``reason`` says why nothing was compared (no protected attributes); ``trusted`` lists the methods
    that beat the random map on both curves, as the stage's summary found.
    """

    methods: Mapping[str, MethodResult]  # in params.yaml `explain.methods` order
    definitions: Mapping[str, str]
    images_per_group: int
    level: float
    resamples: int
    reason: str | None
    trusted: tuple[str, ...]


def read_explanations(path: str | os.PathLike[str]) -> Explanations:
    """Read and check an explanations.json; errors name the file and the dotted key at fault."""
    path = Path(path)
    data = read_json(path, ("schema_version",))
    if data["schema_version"] != SCHEMA_VERSION:
        raise FairvisionError(f"{path}: `schema_version` is {data['schema_version']!r}, fairvision needs "
                              f"{SCHEMA_VERSION}; rerun `fairvision explain` (or `dvc repro`) to rewrite it")
    return _ExplanationsReader(str(path)).explanations(data)


class _ExplanationsReader(JsonReader):
    """Walks explanations.json once."""

    def explanations(self, data: dict[str, Any]) -> Explanations:
        data = self.mapping(data, "", ("params", "definitions", "reason", "methods", "summary"))
        params = self.mapping(data["params"], "params", ("images_per_group", "bootstrap"))
        bootstrap = self.mapping(params["bootstrap"], "params.bootstrap", ("resamples", "level"))
        summary = self.mapping(data["summary"], "summary", ("beat_random_on_both_curves",))
        methods = self.mapping(data["methods"], "methods")
        return Explanations(
            methods={name: self.method(method, f"methods.{name}") for name, method in methods.items()},
            definitions=dict(self.mapping(data["definitions"], "definitions")),
            images_per_group=params["images_per_group"], level=bootstrap["level"],
            resamples=bootstrap["resamples"], reason=data["reason"],
            trusted=tuple(self.word(name, tuple(methods), "summary.beat_random_on_both_curves")
                          for name in self.sequence(summary, "beat_random_on_both_curves", "summary")),
        )

    def method(self, data: Any, where: str) -> MethodResult:
        data = self.mapping(data, where, ("images", "attributes", "faithfulness"))
        attributes = self.mapping(data["attributes"], f"{where}.attributes")
        return MethodResult(
            images=data["images"],
            attributes={name: self.attribute(part, f"{where}.attributes.{name}") for name, part in attributes.items()},
            faithfulness=(None if data["faithfulness"] is None
                          else self.faithfulness(data["faithfulness"], f"{where}.faithfulness")),
        )

    def attribute(self, data: Any, where: str) -> AttributeMaps:
        data = self.mapping(data, where, ("reference", "reference_explained", "groups"))
        groups = self.mapping(data["groups"], f"{where}.groups")
        return AttributeMaps(reference=data["reference"], reference_explained=data["reference_explained"],
                             groups={name: self.group(group, f"{where}.groups.{name}")
                                     for name, group in groups.items()})

    def group(self, data: Any, where: str) -> GroupMap:
        data = self.mapping(data, where, ("n", "n_correct", "n_incorrect", "disparity", "pictures"))
        disparity = data["disparity"]
        if disparity is not None:
            self.mapping(disparity, f"{where}.disparity", ("p_value", "differs"))
        pictures = self.mapping(data["pictures"], f"{where}.pictures", ("mean",))
        return GroupMap(
            n=data["n"], n_correct=data["n_correct"], n_incorrect=data["n_incorrect"],
            disparity=None if disparity is None else self.estimate(disparity, f"{where}.disparity"),
            p_value=None if disparity is None else disparity["p_value"],
            differs=None if disparity is None else disparity["differs"],
            mean_map=pictures["mean"],
        )

    def faithfulness(self, data: Any, where: str) -> Faithfulness:
        data = self.mapping(data, where, ("images", "deletion", "insertion"))
        return Faithfulness(images=data["images"], deletion=self.curve(data["deletion"], f"{where}.deletion"),
                            insertion=self.curve(data["insertion"], f"{where}.insertion"))

    def curve(self, data: Any, where: str) -> Curve:
        data = self.mapping(data, where, ("auc", "random_auc", "gain", "beats_random"))
        return Curve(auc=data["auc"], random_auc=data["random_auc"], gain=self.estimate(data["gain"], f"{where}.gain"),
                     beats_random=data["beats_random"])
