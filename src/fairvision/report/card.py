"""Assemble one backbone's model card ("Model Cards for Model Reporting", Mitchell et al. 2019) as a dict.

The card is the single source of the report: it is written as ``<B>.card.json`` and the
HTML page is rendered from it, so the page and the machine-readable card cannot disagree.
Pure functions of the parsed inputs. Groups are listed in FairFace's natural order (age
buckets by age, not "10-19" before "3-9" as the audit's sorted order has them), so the
card is deterministic and reads naturally.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from fairvision.data.fairface import ATTRIBUTE_VALUES
from fairvision.params import METRIC_NAMES
from fairvision.report.inputs import BackboneInputs

GROUP_STATS = ("n", "accuracy", "selection_rate", "true_positive_rate", "false_positive_rate", "error_rate")

# name -> (title, abbreviation, meaning); {favorable} is the favourable label. Every value is
# "group minus privileged" (or "group over privileged" for the ratio), as AIF360 defines them.
METRIC_TEXT = {
    "statistical_parity_difference": (
        "Statistical parity difference", "SPD",
        "How much more (or less) often the group is predicted “{favorable}” than the privileged group. "
        "0 is parity.",
    ),
    "disparate_impact": (
        "Disparate impact", "DI",
        "The group's rate of “{favorable}” predictions divided by the privileged group's. 1 is parity.",
    ),
    "equal_opportunity_difference": (
        "Equal opportunity difference", "EOD",
        "Among images that truly are “{favorable}”, the gap in how often the model recognises them "
        "(true-positive rate). 0 is parity.",
    ),
    "average_odds_difference": (
        "Average odds difference", "AOD",
        "The average of the true-positive-rate gap and the false-positive-rate gap. 0 is parity.",
    ),
    "error_rate_difference": (
        "Error rate difference", "ERD",
        "The gap in the share of misclassified images. Positive means the group suffers more errors.",
    ),
}


def model_card(backbone: str, inputs: BackboneInputs, datasheet: Mapping[str, Any]) -> dict[str, Any]:
    """The card's sections plus ``flagged`` (attribute -> flagged groups), in a fixed key order."""
    fairness, train = inputs.fairness, inputs.train
    analyses = {attribute: attribute_analysis(attribute, found) for attribute, found in fairness["attributes"].items()}
    return {
        "model_details": _model_details(backbone, fairness, train),
        "intended_use": _intended_use(fairness),
        "factors": _factors(fairness, analyses),
        "metrics": _metrics(fairness),
        "evaluation_data": _data_section(datasheet, "test") | {"n_evaluated": fairness["n"]},
        "training_data": _data_section(datasheet, "train") | {"n_train": train["n_train"], "n_val": train["n_val"]},
        "quantitative_analyses": {
            "n": fairness["n"],
            "overall_accuracy": fairness["accuracy"],
            "min_group_size": fairness["min_group_size"],
            "attributes": analyses,
        },
        "ethical_considerations": _ethical_considerations(fairness),
        "caveats": _caveats(fairness, analyses),
        "flagged": {attribute: _with_status(analysis["groups"], "flagged") for attribute, analysis in analyses.items()},
    }


def attribute_analysis(attribute: str, analysis: Mapping[str, Any]) -> dict[str, Any]:
    """Per group: its rates, its status (privileged, ok, flagged, too_small) and its metrics vs the privileged group.

    The status comes from the comparison itself, the same record that drives the badges,
    so the flagged list and the page's badges always agree.
    """
    privileged = analysis["privileged"]
    groups = {}
    for group in natural_order(attribute, analysis["groups"]):
        row = {key: analysis["groups"][group].get(key) for key in GROUP_STATS}
        if group == privileged:
            groups[group] = row | {"status": "privileged", "metrics": None}
            continue
        comparison = analysis["comparisons"][group]
        metrics = {name: comparison["metrics"].get(name) or {} for name in METRIC_NAMES}
        groups[group] = row | {
            "status": comparison["status"],
            "metrics": {name: {"value": m.get("value"), "flagged": bool(m.get("flagged"))}
                        for name, m in metrics.items()},
        }
    return {"privileged": privileged, "too_small": _with_status(groups, "too_small"), "groups": groups}


def natural_order(attribute: str, groups: Iterable[str]) -> list[str]:
    """FairFace's order for the values it knows; any other value after them, in the order given."""
    known = ATTRIBUTE_VALUES.get(attribute, ())
    return sorted(groups, key=lambda group: known.index(group) if group in known else len(known))


def _with_status(groups: Mapping[str, Mapping[str, Any]], status: str) -> list[str]:
    return [group for group, row in groups.items() if row["status"] == status]


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
    """Images per label and their share; every attribute partitions the split, so any one sums to the labels."""
    per_attribute = datasheet["counts"].get(split, {})
    totals = dict.fromkeys(datasheet["labels"], 0)
    for by_label in next(iter(per_attribute.values()), {}).values():
        for label, n in by_label.items():
            totals[label] = totals.get(label, 0) + n
    grand = sum(totals.values())
    return {label: {"n": n, "share": n / grand if grand else None} for label, n in totals.items()}


def _model_details(backbone: str, fairness: Mapping[str, Any], train: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": backbone,
        "type": f"image classifier predicting {fairness['target']} from a face crop",
        "options": train["options"],
        "parameters": train["parameters"],
        "framework": f"TensorFlow {train['tensorflow']}",
        "labels": train["labels"],
        "training": {key: train[key] for key in ("seed", "epochs", "batch_size", "learning_rate", "image_size",
                                                 "wall_seconds", "images_per_second")},
        "final_epoch": train["final"],
    }


def _intended_use(fairness: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "primary_uses": [
            f"Auditing how a {fairness['target']} classifier's errors are distributed across demographic groups.",
            "Comparing backbones on fairness as well as accuracy before choosing one for further work.",
        ],
        "out_of_scope": [
            "Any decision about a real person (access, identity, eligibility, surveillance).",
            f"Inferring anyone's {', '.join(dict.fromkeys([fairness['target'], *fairness['attributes']]))} "
            "from a photo outside this audit.",
        ],
    }


def _factors(fairness: Mapping[str, Any], analyses: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "target": fairness["target"],
        "labels": fairness["labels"],
        "favorable_label": fairness["favorable_label"],
        "protected_attributes": list(analyses),
        "privileged": {attribute: analysis["privileged"] for attribute, analysis in analyses.items()},
        "groups": {attribute: list(analysis["groups"]) for attribute, analysis in analyses.items()},
    }


def _metrics(fairness: Mapping[str, Any]) -> dict[str, Any]:
    definitions = []
    for name in METRIC_NAMES:
        title, short, meaning = METRIC_TEXT[name]
        tolerance = fairness["tolerance"].get(name)
        definitions.append({
            "name": name, "title": title, "short": short, "tolerance": tolerance,
            "meaning": meaning.format(favorable=fairness["favorable_label"]),
            "flagged_when": _flagged_when(name, tolerance),
        })
    return {
        "performance": "accuracy, the share of test images whose predicted label is the true label",
        "favorable_label": fairness["favorable_label"],
        "min_group_size": fairness["min_group_size"],
        "fairness": definitions,
    }


def _flagged_when(name: str, tolerance: float | None) -> str:
    if tolerance is None:
        return "never (no tolerance set)"
    if name == "disparate_impact":
        return f"below {tolerance:g} or above {1 / tolerance:.3g} (the four-fifths rule)" if tolerance else "never"
    return f"further than {tolerance:g} from 0, in either direction"


def _data_section(datasheet: Mapping[str, Any], split: str) -> dict[str, Any]:
    return {
        "dataset": datasheet["dataset"],
        "format": datasheet["format"],
        "source": datasheet["source"],
        "source_sha256": datasheet["source_sha256"],
        "split": split,
        "n_images": datasheet["n_images"].get(split),
        "label_balance": label_balance(datasheet, split),
        "counts": group_counts(datasheet, split),
    }


def _ethical_considerations(fairness: Mapping[str, Any]) -> list[str]:
    return [
        "Race, gender and age are annotators' perceptions of a face, not how the people pictured identify; "
        "the groups are coarse categories that hide variation within them.",
        f"Predicting {fairness['target']} from a face can cause harm when wrong and when right; "
        "this model exists to be audited, not deployed.",
        "A group that is not flagged is not shown to be treated fairly: the metrics test only the "
        "gaps listed above, at the tolerances chosen in params.yaml.",
    ]


def _caveats(fairness: Mapping[str, Any], analyses: Mapping[str, Any]) -> list[str]:
    caveats = []
    if fairness["dataset"] == "synthetic":  # no explicit flag exists; the built-in generator's name is the signal
        caveats.append("The dataset is synthetic (generated images, possibly with a deliberately planted bias): "
                       "the numbers check the audit itself and say nothing about any real population.")
    caveats.append("Every number is a point estimate on one test split, without confidence intervals yet; "
                   "small groups' numbers can move a lot with a different sample.")
    caveats.append(f"Groups with fewer than {fairness['min_group_size']} test images are reported but never "
                   "flagged (too small to judge).")
    for attribute, analysis in analyses.items():
        if analysis["too_small"]:
            caveats.append(f"Too small to judge for {attribute}: {', '.join(analysis['too_small'])}.")
    references = ", ".join(f"{attribute}: {analysis['privileged']}" for attribute, analysis in analyses.items())
    caveats.append(f"Each group is compared with one privileged group per attribute ({references}); "
                   "intersections (e.g. race × age) are not audited.")
    return caveats
