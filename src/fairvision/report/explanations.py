"""The model card's "Explanations" section: where the model looks per group, and which explainers to trust.

Built from the explain stage's typed record (``fairvision.explain.record``). Per protected
attribute, groups are rows in natural order (the union over methods, with an explicit hole
where a method explained none of a group's images) and methods are columns, each cell the
group's mean map, its disparity from the reference group and the permutation test's verdict.
Faithfulness comes per method, and one sentence says which explainers beat the random map:
a map from one that does not says nothing reliable about the model. Where the stage has not
run, or compared no groups, the section is only ``explained: false`` and the reason.
"""

from __future__ import annotations

from typing import Any, Mapping

from fairvision.audit.partitions import natural_order
from fairvision.explain.record import Curve, Explanations, Faithfulness, GroupMap, MethodResult


def explanations_section(backbone: str, dataset: str, explanations: Explanations | None) -> dict[str, Any]:
    """The section's dict for ``<B>.card.json`` and the page; ``reason`` alone where nothing was explained."""
    if explanations is None:
        return {"explained": False,
                "reason": f"No explanations for this model yet: run `fairvision explain {backbone} --dataset "
                          f"{dataset}` (stage explain@{dataset}-{backbone}), then the report again."}
    if explanations.reason is not None:
        return {"explained": False, "reason": f"No explanations compared: {explanations.reason}."}
    methods = explanations.methods
    return {
        "explained": True,
        "reason": None,
        "methods": list(methods),
        "images_per_group": explanations.images_per_group,
        "level": explanations.level,
        "resamples": explanations.resamples,
        "definitions": dict(explanations.definitions),
        "attributes": {attribute: _attribute(attribute, methods) for attribute in _attributes(methods)},
        "faithfulness": {name: _faithfulness(method.faithfulness) for name, method in methods.items()},
        "trusted": list(explanations.trusted),
        "trust": trust_sentence(list(methods), explanations.trusted),
    }


def trust_sentence(methods: list[str], trusted: tuple[str, ...]) -> str:
    """Which explainers beat the random map on both curves, and that the others' maps are not to be trusted."""
    both = "the random baseline on both the deletion and the insertion curve for this model"
    untrusted = [method for method in methods if method not in trusted]
    if not untrusted:
        return f"Every explainer ({', '.join(methods)}) beats {both}."
    if not trusted:
        return (f"No explainer ({', '.join(untrusted)}) beats {both}: none of these maps should be trusted "
                "to show what the model relies on.")
    return (f"Only {', '.join(trusted)} beat{'s' if len(trusted) == 1 else ''} {both}; explanations from "
            f"{', '.join(untrusted)} do not, and should not be trusted.")


def _attributes(methods: Mapping[str, MethodResult]) -> list[str]:
    """Every explained attribute once, in the order the stage wrote them."""
    return list(dict.fromkeys(attribute for method in methods.values() for attribute in method.attributes))


def _attribute(attribute: str, methods: Mapping[str, MethodResult]) -> dict[str, Any]:
    """The reference group and, per group in natural order, each method's cell (None where it has no maps)."""
    parts = {name: method.attributes.get(attribute) for name, method in methods.items()}
    present = [part for part in parts.values() if part is not None]
    groups = natural_order(attribute, {group for part in present for group in part.groups})
    return {
        "reference": present[0].reference,
        "reference_unexplained": [name for name, part in parts.items()
                                  if part is not None and not part.reference_explained],
        "groups": {group: {name: None if part is None or group not in part.groups else _group(part.groups[group])
                           for name, part in parts.items()}
                   for group in groups},
    }


def _group(group: GroupMap) -> dict[str, Any]:
    return {"n": group.n, "n_correct": group.n_correct, "n_incorrect": group.n_incorrect,
            "disparity": None if group.disparity is None else group.disparity.as_json(),
            "p_value": group.p_value, "differs": group.differs, "mean_map": group.mean_map}


def _faithfulness(faithfulness: Faithfulness | None) -> dict[str, Any] | None:
    if faithfulness is None:
        return None
    return {"images": faithfulness.images, "deletion": _curve(faithfulness.deletion),
            "insertion": _curve(faithfulness.insertion)}


def _curve(curve: Curve) -> dict[str, Any]:
    return {"auc": curve.auc, "random_auc": curve.random_auc, "gain": curve.gain.as_json(),
            "beats_random": curve.beats_random}
