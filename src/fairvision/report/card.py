"""Assemble one backbone's model card ("Model Cards for Model Reporting", Mitchell et al. 2019) as a dict.

The card is the single source of the report: it is written as ``<B>.card.json`` and the
HTML page is rendered from it, so the page and the machine-readable card cannot disagree.
Pure functions of the parsed inputs. Groups keep the audit's order, which is FairFace's
natural order (age buckets by age), so the card is deterministic and reads naturally.
Metric titles and kinds come from the audit's ``COMPARISONS`` table and the words for
verdicts and statuses from its vocabulary: the report never branches on a metric's name.
Per-label performance is always on the card; where the audit measured no group fairness
(no protected attributes) the card says why, and its overall verdict is "not measured",
never a pass by default. The "Explanations" section comes from ``explanations`` and the "Cohorts" section
(what cohort discovery found beyond the configured groups) from ``cohorts`` (either absent: one line).
The "seeds" section says which training seeds the audit covers: with several, every interval
holds training variance and each comparison carries its spread over the seeds; with one, the
card says plainly that training variance was not measured, so one run is not read as the procedure.
"""

from __future__ import annotations

from typing import Any, Mapping

from fairvision.audit.coverage import small_group_warnings
from fairvision.audit.headline import headline as headline_numbers
from fairvision.audit.measures import COMPARISONS, RATES
from fairvision.audit.partitions import natural_order
from fairvision.audit.performance import SCORES
from fairvision.audit.record import (Estimate, Fairness, Framing, GroupAudit, Judged, LabelPerformance, OutcomeAudit,
                                     Seeds, Spread)
from fairvision.audit.vocabulary import AGAINST, STATUSES, VERDICTS
from fairvision.params import METHODS
from fairvision.report.cohorts import cohorts_section
from fairvision.report.explanations import explanations_section
from fairvision.report.inputs import BackboneInputs

# The headline table's columns: the rates most readers know, then the comparisons the
# fairness literature leads with. Every other rate and comparison is in the card too.
KEY_RATES = ("accuracy", "selection_rate", "true_positive_rate", "false_positive_rate", "error_rate")
KEY_METRICS = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
               "average_odds_difference", "error_rate_difference")

STATUS_MEANING = {
    "reference": "the group every other group is compared with",
    "pass": "every metric's interval lies wholly within its tolerance band",
    "fail": "at least one metric's interval lies wholly beyond its tolerance band",
    "inconclusive": ("no metric fails, but an interval straddles an edge of its band (or is undefined): more data "
                     "is needed"),
    "insufficient_data": "fewer test images than min_group_size: reported, not judged",
}
assert tuple(STATUS_MEANING) == STATUSES and set(VERDICTS) <= set(STATUS_MEANING), "one word per status"

# settings.multiple_comparisons.method -> what it did to the comparisons' intervals of one table.
ADJUSTMENT = {
    "simultaneous": "widened so that all the comparison intervals of one table hold together at that level "
                    "(calibrated on the bootstrap replicates, never wider than Bonferroni's; twins such as a "
                    "difference and its ratio count once; rates resting on 0 events, or on all, widened by their "
                    "exact Clopper–Pearson bound)",
    "bonferroni": "widened by Bonferroni's correction over the comparison intervals of one table",
    "none": "not adjusted for the number of intervals in a table",
}
assert tuple(ADJUSTMENT) == METHODS, "one sentence per multiple-comparisons method"

# The overall verdict of an audit that judged nothing because it measured no group fairness.
NOT_MEASURED = "not_measured"
NOT_MEASURED_MEANING = "no group fairness was measured (see why on the model card): not a pass"


def model_card(backbone: str, inputs: BackboneInputs, datasheet: Mapping[str, Any], *, manifest_sha256: str,
               model_sha256: str) -> dict[str, Any]:
    """The card's sections plus ``verdict`` (overall verdict, failing groups), in a fixed key order.

    ``manifest_sha256`` (the prepared dataset's manifest) and ``model_sha256`` (the served model's folder,
    ``fairvision.digest.folder_sha256``) name the exact data and model the card describes.
    """
    fairness, train = inputs.fairness, inputs.train
    return {
        "model_details": _model_details(backbone, fairness, train) | {"sha256": model_sha256},
        "seeds": _seeds(fairness.seeds),
        "intended_use": _intended_use(fairness),
        "factors": _factors(fairness),
        "metrics": _metrics(fairness),
        "evaluation_data": (_data_section(datasheet, "test", manifest_sha256) | {"n_evaluated": fairness.n}
                            | _data_quality(datasheet, fairness)),
        "training_data": (_data_section(datasheet, "train", manifest_sha256)
                          | {"n_train": train["n_train"], "n_val": train["n_val"]}),
        "quantitative_analyses": _quantitative_analyses(fairness),
        "cohorts": cohorts_section(backbone, fairness.dataset, inputs.cohorts, tuple(inputs.cohort_pictures)),
        "explanations": explanations_section(backbone, fairness.dataset, inputs.explanations),
        "ethical_considerations": _ethical_considerations(fairness),
        "caveats": _caveats(fairness),
        "verdict": _verdict(fairness),
    }


def group_counts(datasheet: Mapping[str, Any], split: str) -> dict[str, dict[str, Any]]:
    """Per protected attribute and group: images per label and in total, for one split of the datasheet."""
    counts = datasheet["counts"].get(split, {})
    return {
        attribute: {
            group: {"total": sum(counts[attribute][group].values()), "by_label": dict(counts[attribute][group])}
            for group in natural_order(attribute, counts.get(attribute, {}))
        }
        for attribute in datasheet["protected"]
    }


def label_balance(datasheet: Mapping[str, Any], split: str) -> dict[str, dict[str, Any]]:
    """Images per label in one split and their share."""
    totals = datasheet["label_counts"].get(split, {})
    grand = sum(totals.values())
    return {label: {"n": n, "share": n / grand if grand else None} for label, n in totals.items()}


def _verdict(fairness: Fairness) -> dict[str, Any]:
    """The banner: overall verdict; per partition, each failing group and the tables (outcome, against) it fails in."""
    failing: dict[str, dict[str, dict[str, list[str]]]] = {name: {} for name in fairness.partitions}
    for entry in fairness.failing:
        tables = failing.setdefault(entry.partition, {}).setdefault(entry.group, {})
        tables.setdefault(entry.outcome, []).append(entry.against)
    headline = fairness.headline.name
    return {
        "overall": NOT_MEASURED if fairness.verdict is None else fairness.verdict,
        "comparisons": headline_numbers(fairness)["comparisons"],  # group comparisons by status, as in headline.json
        "reason": fairness.verdict_reason,
        "group_fairness": {"measured": fairness.group_fairness.measured, "reason": fairness.group_fairness.reason},
        "headline_outcome": headline,
        "failing": failing,
        # The headline: failing against the reference in the headline outcome. Against the rest, groups that
        # merely do better than a population holding a failing group can fail too; the banner lists those.
        "headline_failing": {name: [group for group, tables in groups.items()
                                    if "reference" in tables.get(headline, [])]
                             for name, groups in failing.items()},
        "insufficient_data": {name: _with_status(partition.outcomes[headline], "insufficient_data")
                              for name, partition in fairness.partitions.items()},
    }


def _with_status(outcome: OutcomeAudit, status: str) -> list[str]:
    return [name for name, group in outcome.groups.items() if status in group.status.values()]


def _quantitative_analyses(fairness: Fairness) -> dict[str, Any]:
    """Every table of the audit, headline outcome first; the page shows the key columns and folds the rest."""
    headline = fairness.headline
    edf = fairness.differential_fairness
    return {
        "n": fairness.n,
        "overall_accuracy": fairness.accuracy,
        "per_label": _per_label(fairness.per_label),
        "min_group_size": fairness.settings.min_group_size,
        "headline_outcome": headline.name,
        "key_rates": list(KEY_RATES),
        "key_metrics": [metric for metric in KEY_METRICS if metric in headline.metrics],
        "partitions": {
            name: {
                "attributes": list(partition.attributes),
                "reference": partition.reference,
                "reference_reason": partition.reference_reason,
                "outcomes": {framing.name: _outcome(partition.outcomes[framing.name], framing)
                             for framing in fairness.outcomes},
            }
            for name, partition in fairness.partitions.items()
        },
        "differential_fairness": None if edf is None else {
            "outcome": headline.name, "attributes": list(edf.attributes), "groups": edf.groups,
            "concentration": edf.concentration, "interval": edf.interval, **_estimate(edf.outcomes.get(headline.name)),
        },
    }


def _per_label(per_label: Mapping[str, LabelPerformance]) -> dict[str, Any]:
    return {label: {"n": scores.n, **{score: getattr(scores, score).as_json() for score in SCORES}}
            for label, scores in per_label.items()}


def _outcome(outcome: OutcomeAudit, framing: Framing) -> dict[str, Any]:
    return {
        "description": framing.description,
        "metrics": list(framing.metrics),
        "interval_level": dict(outcome.interval_level),
        "at_ceiling": dict(outcome.at_ceiling),
        "theil_index": _estimate(outcome.theil_index),
        "between_group_theil_index": _estimate(outcome.between_group_theil_index),
        "groups": {name: _group(group) for name, group in outcome.groups.items()},
    }


def _group(group: GroupAudit) -> dict[str, Any]:
    """n, status per comparison, rates (with ``rate_seeds``, their spread over several seeds; empty with one), and
    ``vs_<against>`` (None where the group is not judged against it)."""
    return {
        "n": group.n,
        "status": dict(group.status),
        "rates": {name: _estimate(rate) for name, rate in group.rates.items()},
        "rate_seeds": {name: _spread(spread) for name, spread in group.rate_seeds.items()},
        **{f"vs_{against}": _comparisons(group.comparisons.get(against)) for against in AGAINST},
    }


def _comparisons(comparisons: Mapping[str, Judged] | None) -> dict[str, Any] | None:
    """Each comparison as judged; ``seeds`` is its spread over the seeds and how many fail it (None with one seed)."""
    if comparisons is None:
        return None
    return {metric: _estimate(judged.estimate) | {"verdict": judged.verdict, "explanation": judged.explanation,
                                                  "undefined": judged.undefined,
                                                  "seeds": None if judged.seeds is None else _spread(judged.seeds)}
            for metric, judged in comparisons.items()}


def _spread(spread: Spread) -> dict[str, Any]:
    """One number over the seeds: each seed's value, mean, SD, range (over the defined values) and, for a
    comparison, how many of the seeds' own audits fail it (``fails`` of ``k``)."""
    defined = [value for value in spread.values if value is not None]
    entry = {"values": list(spread.values), "k": len(spread.values), "mean": spread.mean, "sd": spread.sd,
             "min": min(defined, default=None), "max": max(defined, default=None)}
    return entry if spread.fails is None else entry | {"fails": spread.fails}


def _seeds(seeds: Seeds) -> dict[str, Any]:
    """The training seeds behind the card: whether its intervals hold training variance (``how``) or why not
    (``reason``), the accuracy over the seeds, and each seed's own accuracy (and, with several, its own verdict
    and failing count, so a reader sees whether one run alone would have said the same).

    The first seed is the model whose training record, history and explanations the card shows, and that
    `fairvision serve` serves: its own figures are not the procedure's.
    """
    runs = [{"seed": run.seed, "accuracy": run.accuracy}
            | ({"verdict": run.verdict, "failing": run.failing} if seeds.measured else {})
            for run in seeds.runs]
    return {
        "values": list(seeds.values),
        "k": len(seeds.values),
        "served": seeds.values[0],
        "measured": seeds.measured,
        "how": seeds.how,
        "reason": seeds.reason,
        "accuracy": _spread(seeds.accuracy),
        "per_seed": runs,
    }


def _seeds_text(seeds: Seeds) -> str:
    """The seeds as the training row says them: "seed 0", or "seeds 0, 1, 2 (the first is the model served
    and explained; …)", since the row's epochs, time and final epoch are that first seed's alone."""
    if not seeds.measured:
        return f"seed {seeds.values[0]}"
    return (f"seeds {', '.join(str(seed) for seed in seeds.values)} (the first is the model served and explained; "
            "the training figures on this card are its own)")


def _estimate(estimate: Estimate | None) -> dict[str, Any]:
    return Estimate(None, None, None).as_json() if estimate is None else estimate.as_json()


def _model_details(backbone: str, fairness: Fairness, train: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": backbone,
        "type": f"image classifier predicting {fairness.target} from an image",
        "options": train["options"],
        "parameters": train["parameters"],
        "framework": f"TensorFlow {train['tensorflow']}",
        "labels": train["labels"],
        # ``seed`` is the served model's (train.json's); ``seeds`` every seed the audit covers, as the page says them.
        "training": {key: train[key] for key in ("seed", "epochs", "batch_size", "learning_rate", "image_size",
                                                 "wall_seconds", "images_per_second")}
                    | {"seeds": _seeds_text(fairness.seeds)},
        "final_epoch": train["final"],
    }


def _attributes(fairness: Fairness) -> list[str]:
    """The protected attributes, each once, in the order the partitions name them."""
    return list(dict.fromkeys(a for partition in fairness.partitions.values() for a in partition.attributes))


def _intended_use(fairness: Fairness) -> dict[str, list[str]]:
    return {
        "primary_uses": [
            f"Auditing how a {fairness.target} classifier's errors are distributed across demographic groups.",
            "Comparing backbones on fairness as well as accuracy before choosing one for further work.",
        ],
        "out_of_scope": [
            "Any decision about a real person (access, identity, eligibility, surveillance).",
            f"Inferring anyone's {', '.join(dict.fromkeys([fairness.target, *_attributes(fairness)]))} "
            "from a photo outside this audit.",
        ],
    }


def _factors(fairness: Fairness) -> dict[str, Any]:
    return {
        "target": fairness.target,
        "labels": list(fairness.labels),
        "favorable_label": fairness.favorable_label,
        "headline_outcome": fairness.headline.name,
        "outcomes": [{"name": o.name, "description": o.description} for o in fairness.outcomes],
        "protected_attributes": _attributes(fairness),
        "partitions": {
            name: {"attributes": list(partition.attributes), "reference": partition.reference,
                   "reference_reason": partition.reference_reason,
                   "groups": list(partition.outcomes[fairness.headline.name].groups)}
            for name, partition in fairness.partitions.items()
        },
    }


def _metrics(fairness: Fairness) -> dict[str, Any]:
    """Each comparison from the audit's table (title, kind, parity) with its tolerance band and where it applies."""
    settings = fairness.settings
    measured = fairness.group_fairness.measured
    used = {metric for framing in fairness.outcomes for metric in framing.metrics} if measured else set()
    definitions = [
        {
            "name": name, "title": comparison.title, "short": comparison.short, "kind": comparison.kind,
            "parity": comparison.parity, "tolerance": list(settings.tolerance[name]),
            "built_from": [RATES[rate].title.lower() for rate in comparison.rates],
            "outcomes": [framing.name for framing in fairness.outcomes if name in framing.metrics],
        }
        for name, comparison in COMPARISONS.items() if name in used
    ]
    return {
        "performance": "accuracy, the share of test images whose predicted label is the true label; per label, "
                       "precision (the share of its predictions that are right), recall (the share of its images "
                       "found) and F1 (2 TP / (2 TP + FP + FN), their harmonic mean)",
        "favorable_label": fairness.favorable_label,
        "min_group_size": settings.min_group_size,
        "fairness": definitions,
        "statuses": dict(STATUS_MEANING),
        "intervals": {
            "method": "bootstrap percentile interval, resampling within each group",
            "resamples": settings.resamples,
            "level": settings.level,
            "stratified_by": settings.stratified_by,
            "per_label_stratified_by": settings.per_label_stratified_by,
            "multiple_comparisons": settings.method,
            "adjustment": ADJUSTMENT[settings.method],
            "family": settings.family,
        },
    }


def _data_section(datasheet: Mapping[str, Any], split: str, manifest_sha256: str) -> dict[str, Any]:
    return {
        "dataset": datasheet["dataset"],
        "format": datasheet["format"],
        "source": datasheet["source"],
        "source_sha256": datasheet["source_sha256"],
        "manifest_sha256": manifest_sha256,
        "split": split,
        "n_images": datasheet["n_images"].get(split),
        "label_balance": label_balance(datasheet, split),
        "counts": group_counts(datasheet, split),
    }


def _data_quality(datasheet: Mapping[str, Any], fairness: Fairness) -> dict[str, Any]:
    """What prepare skipped (rejected, unlabelled images) and the test groups the audit found too small to judge."""
    return {"rejected": datasheet["rejected"], "unlabelled": datasheet["unlabelled"],
            "warnings": small_group_warnings(fairness), "small_groups": _small_groups(fairness)}


def _small_groups(fairness: Fairness) -> dict[str, Any]:
    """The warnings' groups as one table for the page: partition -> group -> test images (0 where a train group is
    absent from the test split), beside the threshold; tests/test_report.py keeps it equal to the warnings."""
    threshold = fairness.settings.min_group_size
    groups: dict[str, dict[str, int]] = {}
    for name, partition in fairness.partitions.items():
        sizes = next(iter(partition.outcomes.values())).groups
        for group in partition.groups:
            n = sizes[group].n if group in sizes else 0
            if n < threshold:
                groups.setdefault(name, {})[group] = n
    return {"min_group_size": threshold, "groups": groups}


def _ethical_considerations(fairness: Fairness) -> list[str]:
    attributes = _attributes(fairness)
    harm = (f"Predicting {fairness.target} from images can cause harm when wrong and when right; "
            "this model exists to be audited, not deployed.")
    if not attributes:
        return ["No protected attribute was audited: how the model treats any group of people is unknown, "
                "which is not evidence that it treats them fairly.", harm]
    return [
        f"The protected attributes ({', '.join(attributes)}) record how each image was labelled (for FairFace, "
        "annotators' perceptions of a face), not how the people pictured identify; the groups are coarse "
        "categories that hide variation within them.",
        harm,
        "A group that passes is not shown to be treated fairly: the metrics test only the gaps listed above, "
        "at the tolerances chosen in params.yaml, on one test split.",
    ]


def _caveats(fairness: Fairness) -> list[str]:
    settings = fairness.settings
    caveats = []
    if fairness.dataset == "synthetic":  # no explicit flag exists; the built-in generator's name is the signal
        caveats.append("The dataset is synthetic (generated images, possibly with a deliberately planted bias): "
                       "the numbers check the audit itself and say nothing about any real population.")
    caveats.append(
        f"Per-label precision, recall and F1 have {settings.level:.0%} bootstrap intervals: {settings.resamples} "
        f"resamples of the test split, stratified by {settings.per_label_stratified_by}. {_variance(fairness.seeds)}")
    if not fairness.group_fairness.measured:
        return [*caveats, str(fairness.group_fairness.reason)]
    caveats.append(
        f"Every rate and metric has a {settings.level:.0%} bootstrap interval ({settings.resamples} resamples of "
        f"the test split within each group{_and_seeds(fairness.seeds)}); the comparisons' intervals are "
        f"{ADJUSTMENT[settings.method]}.")
    caveats.append("An inconclusive verdict means the interval straddles an edge of the tolerance band: the data "
                   "cannot tell pass from fail, and more test images of that group are needed. It is not a pass.")
    caveats.append(f"Groups with fewer than {settings.min_group_size} test images are listed with their size as "
                   "“insufficient data” and not judged.")
    headline = fairness.headline.name
    for name, partition in fairness.partitions.items():
        small = _with_status(partition.outcomes[headline], "insufficient_data")
        if small:
            caveats.append(f"Insufficient data for {name}: {', '.join(small)}.")
    references = ", ".join(f"{name}: {partition.reference}" for name, partition in fairness.partitions.items())
    caveats.append(f"Each group is compared with one reference group per partition ({references}) and with the "
                   "rest of its partition; another reference can change the verdicts against it.")
    return caveats


def _variance(seeds: Seeds) -> str:
    """What the card's intervals cover: with several seeds, training variance too (the audit's ``how`` says
    how); with one, the test images only, and the audit's ``reason`` says what that leaves out."""
    if seeds.measured:
        return (f"Every interval on this card includes training variance over {len(seeds.values)} seeds, though not "
                f"a different split.{_sentence(seeds.how)}")
    return ("Every interval on this card covers the sampling of test images only, not a different training seed "
            f"or split.{_sentence(seeds.reason)}")


def _sentence(text: str | None) -> str:
    """The audit's own words as a sentence of their own (capitalised, one full stop), after a space."""
    return f" {text[:1].upper()}{text[1:].rstrip('.')}." if text else ""


def _and_seeds(seeds: Seeds) -> str:
    return f", and of the {len(seeds.values)} training seeds" if seeds.measured else ""
