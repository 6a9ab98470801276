"""``cohorts.json`` read back into frozen, typed records: the one reader of the discover stage's output.

The discover stage writes it (``serialize``, which takes ``SCHEMA_VERSION`` from here, and the
command, which takes ``JSON_NAME``); the report reads it. Every key the model card relies on is
checked up front, and an error names the file and the dotted key, so the user knows to rerun
`fairvision discover`. Like the audit's and the explanations' readers it needs no numpy or pandas.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

from fairvision.audit.vocabulary import VERDICTS
from fairvision.discover.settings import PROCEDURES
from fairvision.errors import FairvisionError
from fairvision.jsonread import JsonReader, read_json

__all__ = ["JSON_NAME", "SCHEMA_VERSION", "Cohorts", "Judgement", "Tested", "read_cohorts"]

SCHEMA_VERSION = 1  # written by the discover stage; any other version is refused with the command that rewrites it
JSON_NAME = "cohorts.json"  # beside fairness.json, in audits/<D>/<B>/
LINEAGES = ("own", "inherited")


@dataclasses.dataclass(frozen=True)
class Judgement:
    """A selected cohort's confirm-half interval and verdict; ``inherited_from`` names the parent it only
    inherits its gap from (None: a finding of its own)."""

    level: float
    low: float | None
    high: float | None
    verdict: str
    explanation: str
    minimum_detectable_gap: float | None  # inconclusive only: the gap its sizes would show with the set power
    inherited_from: str | None


@dataclasses.dataclass(frozen=True)
class Tested:
    """One (cohort, gap) tested on the confirm half: its counts and gap, and the judgement where it was selected."""

    cohort: str
    metric: str
    n: int
    rate: float | None
    rest_rate: float | None
    value: float | None
    p_value: float | None
    judgement: Judgement | None  # None: not selected


@dataclasses.dataclass(frozen=True)
class Cohorts:
    """``audits/<D>/<B>/cohorts.json`` (schema_version 1), checked and typed; ``tested`` in the explore half's rank."""

    attributes: tuple[str, ...]
    favorable_label: str
    explore_rows: int
    confirm_rows: int
    max_order: int
    mdss_subsets: int  # per gap; 0: labelled intersections only
    cohorts_considered: int
    eligible: int
    min_cohort_size: Mapping[str, int]  # per gap: its denominator's minimum on each half
    procedure: str
    fdr: float
    false_alarm: float | None  # None: no gate
    gate_open: bool
    interval_level: float | None  # the FCR-adjusted level of every selected interval; None when none was selected
    false_coverage_rate: float
    tested: tuple[Tested, ...]

    @property
    def selected(self) -> tuple[Tested, ...]:
        return tuple(row for row in self.tested if row.judgement is not None)


def read_cohorts(path: str | os.PathLike[str]) -> Cohorts:
    """Read and check a cohorts.json; errors name the file and the dotted key at fault."""
    path = Path(path)
    data = read_json(path, ("schema_version",))
    if data["schema_version"] != SCHEMA_VERSION:
        raise FairvisionError(f"{path}: `schema_version` is {data['schema_version']!r}, fairvision needs "
                              f"{SCHEMA_VERSION}; rerun `fairvision discover` (or `dvc repro`) to rewrite it")
    return _CohortsReader(str(path)).cohorts(data)


class _CohortsReader(JsonReader):
    """Walks cohorts.json once."""

    def cohorts(self, data: dict[str, Any]) -> Cohorts:
        data = self.mapping(data, "", ("attributes", "favorable_label", "split", "search", "selection", "cohorts"))
        split = self.mapping(data["split"], "split", ("explore_rows", "confirm_rows"))
        search = self.mapping(data["search"], "search", ("max_order", "cohorts_considered", "eligible",
                                                         "min_cohort_size", "mdss"))
        mdss = self.mapping(search["mdss"], "search.mdss", ("subsets",))
        selection = self.mapping(data["selection"], "selection", (
            "procedure", "fdr", "false_alarm", "gate_open", "candidates", "selected", "interval_level",
            "false_coverage_rate"))
        tested = tuple(self.tested(row, f"cohorts[{i}]") for i, row in enumerate(self.sequence(data, "cohorts")))
        for key, count in (("candidates", len(tested)), ("selected", sum(t.judgement is not None for t in tested))):
            if selection[key] != count:
                raise FairvisionError(f"{self.source}: `selection.{key}` is {selection[key]!r}, but `cohorts` "
                                      f"holds {count}; rerun `fairvision discover` to rewrite it")
        sizes = self.mapping(search["min_cohort_size"], "search.min_cohort_size")
        return Cohorts(
            attributes=tuple(self.sequence(data, "attributes")), favorable_label=data["favorable_label"],
            explore_rows=split["explore_rows"], confirm_rows=split["confirm_rows"], max_order=search["max_order"],
            mdss_subsets=mdss["subsets"],
            cohorts_considered=search["cohorts_considered"], eligible=search["eligible"],
            min_cohort_size={metric: self.number(size, f"search.min_cohort_size.{metric}")
                             for metric, size in sizes.items()},
            procedure=self.word(selection["procedure"], PROCEDURES, "selection.procedure"),
            fdr=self.number(selection["fdr"], "selection.fdr"),
            false_alarm=self.number(selection["false_alarm"], "selection.false_alarm", nullable=True),
            gate_open=self.flag(selection["gate_open"], "selection.gate_open"),
            interval_level=self.number(selection["interval_level"], "selection.interval_level", nullable=True),
            false_coverage_rate=self.number(selection["false_coverage_rate"], "selection.false_coverage_rate"),
            tested=tested,
        )

    def tested(self, data: Any, where: str) -> Tested:
        data = self.mapping(data, where, ("cohort", "metric", "n", "rate", "rest_rate", "value", "p_value",
                                          "selected"))
        selected = self.flag(data["selected"], f"{where}.selected")
        return Tested(
            cohort=data["cohort"], metric=data["metric"], n=self.number(data["n"], f"{where}.n"),
            rate=self.number(data["rate"], f"{where}.rate", nullable=True),
            rest_rate=self.number(data["rest_rate"], f"{where}.rest_rate", nullable=True),
            value=self.number(data["value"], f"{where}.value", nullable=True),
            p_value=self.number(data["p_value"], f"{where}.p_value", nullable=True),
            judgement=self.judgement(data, where) if selected else None,
        )

    def judgement(self, data: dict[str, Any], where: str) -> Judgement:
        self.mapping(data, where, ("level", "low", "high", "verdict", "explanation", "minimum_detectable_gap",
                                   "lineage", "inherited_from"))
        own = self.word(data["lineage"], LINEAGES, f"{where}.lineage") == "own"
        if own != (data["inherited_from"] is None):
            raise FairvisionError(f"{self.source}: `{where}.inherited_from` must be null exactly when "
                                  f"`{where}.lineage` is own, got {data['inherited_from']!r} with {data['lineage']!r}")
        return Judgement(
            level=self.number(data["level"], f"{where}.level"),
            low=self.number(data["low"], f"{where}.low", nullable=True),
            high=self.number(data["high"], f"{where}.high", nullable=True),
            verdict=self.word(data["verdict"], VERDICTS, f"{where}.verdict"), explanation=data["explanation"],
            minimum_detectable_gap=self.number(data["minimum_detectable_gap"], f"{where}.minimum_detectable_gap",
                                               nullable=True),
            inherited_from=data["inherited_from"],
        )
