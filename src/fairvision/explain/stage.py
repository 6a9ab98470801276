"""Stage `explain@<dataset>-<backbone>`: where the exported model looks, per group, and whether to trust it.

Samples test images per group of each protected attribute (``sampling``), explains each with
every method in params.yaml `explain.methods` through the exported model's endpoints
(``methods``), averages the maps per group and compares each group with the audit's reference
group (``aggregate``), measures each method against a random map with deletion and insertion
curves (``faithfulness``), and writes audits/<D>/<B>/explanations/: explanations.json, and per
method, attribute and group the mean map, its correct / incorrect halves and the sampled images'
overlays as PNGs (``pictures``). The folder is written whole or not at all; ``record`` reads it back.
"""

from __future__ import annotations

import logging
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairvision.errors import FairvisionError
from fairvision.explain import pictures
from fairvision.explain.aggregate import GroupMaps, compare, group_maps
from fairvision.explain.faithfulness import curves
from fairvision.explain.methods import build_explainer
from fairvision.explain.model import ExplainedModel, load_explained
from fairvision.explain.record import JSON_NAME, SCHEMA_VERSION
from fairvision.explain.sampling import sample_images
from fairvision.files import atomic_path, require, write_json
from fairvision.groups import partition_name
from fairvision.models.pixels import read_test_pixels
from fairvision.params import Dataset, Explain
from fairvision.references import read_references
from fairvision.statistics import number, percentile_intervals

log = logging.getLogger(__name__)
RANDOM = "random"  # the faithfulness baseline's name

DEFINITIONS = {
    "saliency": "each map is made non-negative and scaled to sum 1 over the image (a distribution of attention); "
                "the explained class is the model's prediction",
    "mean_map": "a group's mean map weights its correct and incorrect strata by their shares of the group's test "
                "images",
    "disparity": "1 - Pearson correlation between a group's mean map and the reference group's (0 = same places in "
                 "the same proportions, 2 = opposite)",
    "interval": "percentile bootstrap over the sampled images, resampled within group and correct/incorrect stratum",
    "measurable": "p_value is a stratified permutation test (images swapped between the two groups within each "
                  "stratum); a disparity differs measurably when p_value times the number of groups compared in "
                  "its attribute (Bonferroni) is below 1 - level",
    "faithfulness": "deletion (insertion): area under the explained class's probability as the map's most salient "
                    "pixels are replaced by (restored onto) the image's mean colour; a random map on the same images "
                    "is the baseline; a gain is the advantage over it (random - method for deletion, method - random "
                    "for insertion) with a paired bootstrap interval, and the method beats random where that "
                    "interval lies wholly above 0",
}


def explain(backbone: str, model_dir: str | Path, prepared_dir: str | Path, predictions_path: str | Path,
            references_path: str | Path, dataset: Dataset, params: Explain, out_dir: str | Path) -> None:
    """Explain ``backbone``'s exported model on a per-group sample of the test split; write ``out_dir``.

    ``predictions_path`` is that model's own predictions (which images it got right), and
    ``references_path`` the audit's references.json (each attribute's reference group).
    """
    predictions_path = Path(predictions_path)
    predictions = pd.read_parquet(require(predictions_path, f"evaluate {backbone}"))
    references_path = require(references_path, f"audit {backbone}")
    references = _references(read_references(references_path), dataset.protected, references_path)
    model = load_explained(model_dir)
    sample = sample_images(predictions, dataset.protected, params.images_per_group, params.seed, str(predictions_path))
    ids = sorted(set(sample["id"]))
    pixels = read_test_pixels(Path(prepared_dir), ids, model.image_size)
    classes = _predicted_classes(predictions.set_index("id").loc[ids, "pred"], model, predictions_path)
    scored = _first(sample, params.faithfulness_images_per_group)  # every method's curves are on these images
    at = {image: position for position, image in enumerate(ids)}
    rng = np.random.default_rng([params.seed, zlib.crc32(RANDOM.encode())])
    random = _areas(model, pixels, classes, ids, scored, rng.random(pixels.shape[:3]), params, rng)
    maps, faithfulness = {}, {}
    for method in params.methods if ids else ():
        chosen = _first(sample, params.lime.images_per_group) if method == "lime" else ids
        log.info("%s: %s on %d test images", backbone, method, len(chosen))
        index = [at[image] for image in chosen]
        explained = build_explainer(method, model, params)(pixels[index], classes[index])
        maps[method] = dict(zip(chosen, explained))
        method_rng = np.random.default_rng([params.seed, zlib.crc32(method.encode())])
        own = _areas(model, pixels[index], classes[index], chosen, scored, explained, params, method_rng)
        faithfulness[method] = _faithfulness(own, random, params, method_rng)
    images = dict(zip(ids, pixels))
    with atomic_path(out_dir, directory=True) as tmp:
        methods = {method: {"images": len(maps.get(method, {})),
                            "attributes": _attributes(method, sample, maps.get(method, {}), images, references,
                                                      params, tmp),
                            "faithfulness": faithfulness.get(method)}
                   for method in params.methods}
        write_json(tmp / JSON_NAME, {
            "schema_version": SCHEMA_VERSION,
            "backbone": backbone,
            "dataset": dataset.name,
            "model": {"image_size": model.image_size, "labels": list(model.labels)},
            "params": _params(params),
            "definitions": DEFINITIONS,
            "attributes": {a: {"reference": references[a]} for a in dataset.protected},
            "reason": None if dataset.protected else "the dataset has no protected attributes: no groups to compare",
            "methods": methods,
            "summary": _summary(methods, params),
        })
    log.info("%s: explained %d test images with %s -> %s", backbone, len(ids), ", ".join(params.methods), out_dir)


def _references(chosen: dict[str, str], attributes: tuple[str, ...], path: Path) -> dict[str, str]:
    """Each attribute's reference group as the audit resolved it."""
    references = {}
    for attribute in attributes:
        reference = chosen.get(partition_name((attribute,)))
        if reference is None:
            raise FairvisionError(f"{path}: no partition `{attribute}`; rerun `fairvision audit` after changing the "
                                  "dataset's protected attributes")
        references[attribute] = reference
    return references


def _predicted_classes(predicted: pd.Series, model: ExplainedModel, path: Path) -> np.ndarray:
    unknown = sorted(set(predicted) - set(model.labels))
    if unknown:
        raise FairvisionError(f"{path}: column `pred` holds {unknown[0]!r}, which is not one of the model's labels "
                              f"({', '.join(model.labels)}); rerun `fairvision evaluate`")
    return np.array([model.labels.index(label) for label in predicted], np.int32)


def _first(sample: pd.DataFrame, per_group: int) -> list[str]:
    """The ids of the first ``per_group`` sampled images of every group, sorted."""
    return sorted(set(sample.loc[sample["rank"] < per_group, "id"]))


def _areas(model: ExplainedModel, pixels: np.ndarray, classes: np.ndarray, ids: list[str], scored: list[str],
           maps: np.ndarray, params: Explain, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """Deletion and insertion areas of the images of ``ids`` that are in ``scored``, by id."""
    keep = np.isin(ids, scored)
    areas = curves(model, pixels[keep], classes[keep], maps[keep], steps=params.faithfulness_steps, rng=rng).areas()
    return {image: (deletion, insertion) for image, deletion, insertion in zip(np.asarray(ids)[keep], *areas)}


def _faithfulness(own: dict[str, tuple[float, float]], random: dict[str, tuple[float, float]], params: Explain,
                  rng: np.random.Generator) -> dict[str, Any] | None:
    """Mean areas of a method and of the random maps on the same images, and the method's paired gains."""
    if not own:
        return None
    method = np.array([own[image] for image in own])
    baseline = np.array([random[image] for image in own])
    gains = {"deletion": baseline[:, 0] - method[:, 0], "insertion": method[:, 1] - baseline[:, 1]}
    draws = rng.integers(0, len(own), (params.resamples, len(own)))
    out: dict[str, Any] = {"images": len(own)}
    for curve, column in (("deletion", 0), ("insertion", 1)):
        interval = percentile_intervals(gains[curve][draws].mean(axis=1)[:, np.newaxis], params.level)[0]
        out[curve] = {"auc": number(method[:, column].mean()), "random_auc": number(baseline[:, column].mean()),
                      "gain": {"value": number(gains[curve].mean()), "ci": [number(v) for v in interval]},
                      "beats_random": bool(interval[0] > 0)}
    return out


def _attributes(method: str, sample: pd.DataFrame, maps: dict[str, np.ndarray], images: dict[str, np.ndarray],
                references: dict[str, str], params: Explain, folder: Path) -> dict[str, Any]:
    """Per attribute: each group's counts, disparity from the reference and pictures (written under ``folder``)."""
    out = {}
    for attribute, rows in sample.groupby("attribute", sort=False):
        groups = {group: group_maps(part, maps) for group, part in rows.groupby("group", sort=True)}
        groups = {group: found for group, found in groups.items() if found is not None}
        reference = groups.get(references[attribute])
        compared = [group for group in groups if group != references[attribute]]
        scale = max((float(g.mean.max()) for g in groups.values()), default=0.0)
        names = _file_names(list(groups))
        records = {}
        for group, found in groups.items():
            rng = np.random.default_rng([params.seed] + [zlib.crc32(s.encode()) for s in (method, attribute, group)])
            result = (compare(found, reference, resamples=params.resamples, level=params.level, rng=rng)
                      if reference is not None and group in compared else None)
            records[group] = {
                "n": len(found.maps), "n_correct": int(found.correct.sum()),
                "n_incorrect": int((~found.correct).sum()),
                "disparity": None if result is None else {
                    "value": number(result.value), "ci": [number(result.low), number(result.high)],
                    "p_value": number(result.p_value),
                    "differs": (None if result.p_value is None
                                else bool(result.p_value * len(compared) < 1 - params.level))},
                "pictures": _pictures(found, images, scale, folder, Path(method) / _slug(attribute) / names[group]),
            }
        out[attribute] = {"reference": references[attribute],
                          "reference_explained": reference is not None, "groups": records}
    return out


def _pictures(found: GroupMaps, images: dict[str, np.ndarray], scale: float, folder: Path,
              stem: Path) -> dict[str, str]:
    """Write a group's mean maps (over its mean face) and overlays; their paths relative to ``folder``."""
    sampled = np.stack([images[i] for i in found.ids])
    face = np.tensordot(found.weights, sampled, axes=1)
    written = {"mean": found.mean}
    for name, flag in (("correct", True), ("incorrect", False)):
        stratum = found.stratum_mean(flag)
        if stratum is not None:
            written[name] = stratum
    paths = {}
    for name, saliency in written.items():
        path = stem.with_name(f"{stem.name}.{name}.png")
        pictures.write_png(folder / path, pictures.heat_over(face, saliency, scale))
        paths[name] = path.as_posix()
    overlays = stem.with_name(f"{stem.name}.overlays.png")
    pictures.write_png(folder / overlays, pictures.strip(sampled, found.maps))
    paths["overlays"] = overlays.as_posix()
    return paths


def _summary(methods: dict[str, Any], params: Explain) -> dict[str, Any]:
    """Which methods beat the random map, and every group whose maps differ measurably from the reference."""
    trusted = [m for m, r in methods.items() if r["faithfulness"]
               and r["faithfulness"]["deletion"]["beats_random"] and r["faithfulness"]["insertion"]["beats_random"]]
    differs = [{"method": method, "attribute": attribute, "group": group, "disparity": record["disparity"]}
               for method, result in methods.items() for attribute, part in result["attributes"].items()
               for group, record in part["groups"].items()
               if record["disparity"] and record["disparity"]["differs"]]
    return {"beat_random_on_both_curves": trusted, "differ_measurably": differs, "level": params.level}


def _params(params: Explain) -> dict[str, Any]:
    return {"methods": list(params.methods), "images_per_group": params.images_per_group, "seed": params.seed,
            "lime": {"images_per_group": params.lime.images_per_group, "samples": params.lime.samples,
                     "batch_size": params.lime.batch_size, "segmentation": params.lime.segmentation,
                     "segmentation_options": dict(params.lime.segmentation_options)},
            "integrated_gradients": {"steps": params.integrated_gradients_steps},
            "bootstrap": {"resamples": params.resamples, "level": params.level},
            "faithfulness": {"images_per_group": params.faithfulness_images_per_group,
                             "steps": params.faithfulness_steps}}


def _slug(name: str) -> str:
    """A file name for a group or attribute: letters, digits, `-` and `_` kept, anything else `_`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "_"


def _file_names(groups: list[str]) -> dict[str, str]:
    """Distinct file stems for ``groups`` (a slug, numbered where two slugs collide)."""
    names: dict[str, str] = {}
    for group in groups:
        slug = _slug(group)
        names[group] = slug if slug not in names.values() else f"{slug}-{len(names)}"
    return names
