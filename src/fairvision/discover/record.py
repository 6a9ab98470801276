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

__all__ = ["EXAMPLES_JSON", "JSON_NAME", "SCHEMA_VERSION", "Cohorts", "Described", "EmbeddingSearch", "Judgement",
           "Ratio", "Tested", "read_cohorts"]

SCHEMA_VERSION = 2  # written by the discover stage; any other version is refused with the command that rewrites it
JSON_NAME = "cohorts.json"  # beside fairness.json, in audits/<D>/<B>/
EXAMPLES_JSON = "examples.json"  # in layout.cohort_examples_dir: each described cohort's picture and image ids
LINEAGES = ("own", "inherited")
SOURCES = ("intersection", "mdss", "mixture", "direction")
READINGS = ("over", "under", "even")


@dataclasses.dataclass(frozen=True)
class Ratio:
    """``attribute=value``'s odds ratio of being in an embedding cohort, with its Bonferroni-adjusted interval."""

    attribute: str
    value: str
    in_cohort: int
    outside: int
    odds_ratio: float | None
    low: float | None
    high: float | None
    reading: str  # over, under, even


@dataclasses.dataclass(frozen=True)
class Described:
    """A selected embedding cohort on the confirm half: its size, which groups it holds, example image ids."""

    size: int
    share: float
    level: float
    examples: tuple[str, ...]
    odds_ratios: tuple[Ratio, ...]  # strongest first

    @property
    def notable(self) -> tuple[Ratio, ...]:
        return tuple(r for r in self.odds_ratios if r.reading != "even")


@dataclasses.dataclass(frozen=True)
class EmbeddingSearch:
    """How the embedding rules were fitted; per cohort its confirm size, and a description where selected."""

    principal_components: int
    components: int
    top: tuple[float, ...]
    confirm_sizes: Mapping[str, int]
    described: Mapping[str, Described]


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
    source: str  # intersection, mdss, or the embedding search (mixture, direction)
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
    embeddings: EmbeddingSearch | None  # None: the embeddings were not searched
    tested: tuple[Tested, ...]

    @property
    def selected(self) -> tuple[Tested, ...]:
        return tuple(row for row in self.tested if row.judgement is not None)


def read_examples(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Each described embedding cohort's strip of examples (a PNG in ``folder``), by cohort name; {} without a folder.

    ``folder`` is the discover stage's (``layout.cohort_examples_dir``); its examples.json names
    every picture, and a picture it names must be there.
    """
    folder = Path(folder)
    if not (folder / EXAMPLES_JSON).is_file():
        return {}
    reader = JsonReader(str(folder / EXAMPLES_JSON))
    data = reader.mapping(read_json(folder / EXAMPLES_JSON, ("schema_version", "cohorts")), "", ("cohorts",))
    pictures = {}
    for name, entry in reader.mapping(data["cohorts"], "cohorts").items():
        entry = reader.mapping(entry, f"cohorts.{name}", ("picture", "ids"))
        path = folder / Path(str(entry["picture"])).name
        if not path.is_file():
            raise FairvisionError(f"{folder / EXAMPLES_JSON}: `cohorts.{name}.picture` names {path.name}, which is "
                                  "missing; rerun `fairvision discover`")
        pictures[name] = path
    return pictures


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
                                                         "min_cohort_size", "mdss", "embeddings"))
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
            embeddings=None if search["embeddings"] is None else self.embeddings(search["embeddings"]),
            tested=tested,
        )

    def embeddings(self, data: Any) -> EmbeddingSearch:
        where = "search.embeddings"
        data = self.mapping(data, where, ("principal_components", "components", "top", "cohorts"))
        rows = [self.mapping(row, f"{where}.cohorts[{i}]", ("cohort", "source", "confirm_n", "description"))
                for i, row in enumerate(self.sequence(data, "cohorts", where))]
        return EmbeddingSearch(
            principal_components=self.number(data["principal_components"], f"{where}.principal_components"),
            components=self.number(data["components"], f"{where}.components"),
            top=tuple(self.number(v, f"{where}.top") for v in self.sequence(data, "top", where)),
            confirm_sizes={row["cohort"]: self.number(row["confirm_n"], f"{where}.cohorts[{i}].confirm_n")
                           for i, row in enumerate(rows)},
            described={row["cohort"]: self.described(row["description"], f"{where}.cohorts[{i}].description")
                       for i, row in enumerate(rows) if row["description"] is not None},
        )

    def described(self, data: Any, where: str) -> Described:
        data = self.mapping(data, where, ("size", "share", "level", "examples", "odds_ratios"))
        ratios = []
        for i, row in enumerate(self.sequence(data, "odds_ratios", where)):
            at = f"{where}.odds_ratios[{i}]"
            row = self.mapping(row, at, ("attribute", "value", "in_cohort", "outside", "odds_ratio", "low", "high",
                                         "reading"))
            ratios.append(Ratio(row["attribute"], row["value"], self.number(row["in_cohort"], f"{at}.in_cohort"),
                                self.number(row["outside"], f"{at}.outside"),
                                self.number(row["odds_ratio"], f"{at}.odds_ratio", nullable=True),
                                self.number(row["low"], f"{at}.low", nullable=True),
                                self.number(row["high"], f"{at}.high", nullable=True),
                                self.word(row["reading"], READINGS, f"{at}.reading")))
        return Described(size=self.number(data["size"], f"{where}.size"),
                         share=self.number(data["share"], f"{where}.share"),
                         level=self.number(data["level"], f"{where}.level"),
                         examples=tuple(str(i) for i in self.sequence(data, "examples", where)),
                         odds_ratios=tuple(ratios))

    def tested(self, data: Any, where: str) -> Tested:
        data = self.mapping(data, where, ("cohort", "metric", "source", "n", "rate", "rest_rate", "value", "p_value",
                                          "selected"))
        selected = self.flag(data["selected"], f"{where}.selected")
        return Tested(
            cohort=data["cohort"], metric=data["metric"], source=self.word(data["source"], SOURCES, f"{where}.source"),
            n=self.number(data["n"], f"{where}.n"),
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
