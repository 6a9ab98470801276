"""One backbone of a published run in brief: the figures the site's index lists and its trend pages draw.

Read once from the backbone's card when its run is published and kept in the site's history, so
the index and every trend page are rebuilt from history.json alone, never from old cards. The
figures are the audit's headline numbers (headline.json, `dvc exp show`): accuracy (with its
range over the training seeds), the overall verdict, the group comparisons by status, and per
partition the worst accuracy gap to the reference group (the "prediction correct" outcome's
statistical parity difference, furthest from 0 among the judged groups), here with the group,
interval, verdict and tolerance band the card gives it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from fairvision.audit.headline import GAP_METRIC
from fairvision.audit.outcomes import CORRECT
from fairvision.audit.vocabulary import STATUSES, VERDICTS
from fairvision.errors import FairvisionError
from fairvision.jsonread import Estimate, JsonReader
from fairvision.report.badge import WORST_FIRST

COUNTED = tuple(status for status in STATUSES if status != "reference")  # verdict.comparisons' keys


@dataclasses.dataclass(frozen=True)
class Gap:
    """A partition's worst accuracy gap: the group, its gap to the reference with its interval, verdict and band."""

    group: str
    estimate: Estimate
    verdict: str
    tolerance: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """Overall accuracy and, over the training seeds audited, its lowest and highest value."""

    value: float | None
    seeds: int
    low: float | None
    high: float | None


@dataclasses.dataclass(frozen=True)
class BackboneSummary:
    """What the site shows of one backbone in one run, and the content hashes of its model and data."""

    verdict: str
    comparisons: Mapping[str, int]
    accuracy: Accuracy
    gaps: Mapping[str, Gap | None]  # partition -> its worst gap (None where no group was judged)
    model_sha256: str
    manifest_sha256: str

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "comparisons": dict(self.comparisons),
            "accuracy": dataclasses.asdict(self.accuracy),
            "worst_accuracy_gap": {name: None if gap is None else
                                   {"group": gap.group, **gap.estimate.as_json(), "verdict": gap.verdict,
                                    "tolerance": list(gap.tolerance)}
                                   for name, gap in self.gaps.items()},
            "model_sha256": self.model_sha256,
            "manifest_sha256": self.manifest_sha256,
        }


def summarize(card: Mapping[str, Any], source: str) -> BackboneSummary:
    """The summary of one ``<B>.card.json`` (parsed), whose errors name ``source`` and the missing key.

    The keys an older report stage did not write are checked by name; a card damaged elsewhere is refused whole.
    """
    try:
        return _summarize(card, JsonReader(source))
    except FairvisionError as error:
        raise FairvisionError(f"{error}; the report stage writes it: run `dvc repro`") from None
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise FairvisionError(f"{source}: not a card this fairvision reads ({type(error).__name__}: {error}); run "
                              "`dvc repro` to write it again") from None


def _summarize(card: Mapping[str, Any], reader: JsonReader) -> BackboneSummary:
    verdict = reader.mapping(card.get("verdict"), "verdict", ("overall", "comparisons"))
    analyses = reader.mapping(card.get("quantitative_analyses"), "quantitative_analyses",
                              ("overall_accuracy", "partitions"))
    spread = reader.mapping(reader.mapping(card.get("seeds"), "seeds", ("accuracy",))["accuracy"], "seeds.accuracy",
                            ("k", "min", "max"))
    details = reader.mapping(card.get("model_details"), "model_details", ("sha256",))
    data = reader.mapping(card.get("evaluation_data"), "evaluation_data", ("manifest_sha256",))
    comparisons = reader.mapping(verdict["comparisons"], "verdict.comparisons", COUNTED)
    metrics = reader.mapping(card.get("metrics"), "metrics", ("fairness",))
    tolerance = next((tuple(metric["tolerance"]) for metric in metrics["fairness"] if metric["name"] == GAP_METRIC),
                     None)
    return BackboneSummary(
        verdict=reader.word(verdict["overall"], WORST_FIRST, "verdict.overall"),
        comparisons={status: comparisons[status] for status in COUNTED},
        accuracy=Accuracy(value=analyses["overall_accuracy"], seeds=spread["k"], low=spread["min"],
                          high=spread["max"]),
        gaps={name: _worst_gap(partition, tolerance) for name, partition in analyses["partitions"].items()},
        model_sha256=details["sha256"],
        manifest_sha256=data["manifest_sha256"],
    )


def _worst_gap(partition: Mapping[str, Any], tolerance: tuple[float, float] | None) -> Gap | None:
    """As the audit's headline picks it (audit.headline): among the groups judged against the reference in the
    "correct" outcome, the accuracy gap furthest from 0; None where no group was judged."""
    table = partition["outcomes"].get(CORRECT)
    if table is None or tolerance is None:
        return None
    judged = [(name, group["vs_reference"][GAP_METRIC]) for name, group in table["groups"].items()
              if group["status"]["reference"] in VERDICTS and group["vs_reference"] is not None
              and GAP_METRIC in group["vs_reference"] and group["vs_reference"][GAP_METRIC]["value"] is not None]
    if not judged:
        return None
    name, gap = max(judged, key=lambda item: abs(item[1]["value"]))
    low, high = gap["ci"]
    return Gap(group=name, estimate=Estimate(gap["value"], low, high), verdict=gap["verdict"],
               tolerance=(tolerance[0], tolerance[1]))


def read_summary(reader: JsonReader, data: Any, where: str) -> BackboneSummary:
    """A summary as ``BackboneSummary.as_json`` wrote it into history.json, checked key by key."""
    data = reader.mapping(data, where, ("verdict", "comparisons", "accuracy", "worst_accuracy_gap", "model_sha256",
                                        "manifest_sha256"))
    comparisons = reader.mapping(data["comparisons"], f"{where}.comparisons", COUNTED)
    accuracy = reader.mapping(data["accuracy"], f"{where}.accuracy", ("value", "seeds", "low", "high"))
    gaps = reader.mapping(data["worst_accuracy_gap"], f"{where}.worst_accuracy_gap")
    return BackboneSummary(
        verdict=reader.word(data["verdict"], WORST_FIRST, f"{where}.verdict"),
        comparisons={status: reader.number(comparisons[status], f"{where}.comparisons.{status}")
                     for status in COUNTED},
        accuracy=Accuracy(**{key: reader.number(accuracy[key], f"{where}.accuracy.{key}", nullable=key != "seeds")
                             for key in ("value", "seeds", "low", "high")}),
        gaps={name: None if gap is None else _read_gap(reader, gap, f"{where}.worst_accuracy_gap.{name}")
              for name, gap in gaps.items()},
        model_sha256=data["model_sha256"],
        manifest_sha256=data["manifest_sha256"],
    )


def _read_gap(reader: JsonReader, data: Any, where: str) -> Gap:
    data = reader.mapping(data, where, ("group", "value", "ci", "verdict", "tolerance"))
    tolerance = data["tolerance"]
    if not (isinstance(tolerance, list) and len(tolerance) == 2):
        raise FairvisionError(f"{reader.source}: `{where}.tolerance` must be a [low, high] pair, got {tolerance!r}")
    return Gap(group=data["group"], estimate=reader.estimate(data, where),
               verdict=reader.word(data["verdict"], VERDICTS, f"{where}.verdict"),
               tolerance=(reader.number(tolerance[0], f"{where}.tolerance[0]"),
                          reader.number(tolerance[1], f"{where}.tolerance[1]")))
