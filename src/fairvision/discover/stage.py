"""The discover stage: one backbone's predictions (and its served model) in, its cohorts.json out.

A stage function with plain arguments (DESIGN: the CLI, DVC and Kubeflow call the same
function): reads the first seed's predictions table, searches the dataset's protected
attributes and any extra metadata columns and, when `discover.embeddings` asks for it, the
model's penultimate-layer embeddings of every test image (its `embeddings` endpoint); writes
the JSON atomically, and beside it a folder with a strip of example images and their Grad-CAM
maps for each selected embedding cohort (its `saliency` endpoint). Missing values are refused as
the audit refuses them: a missing attribute would otherwise become a cohort named `nan`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from fairvision.discover.describe import Description, describe_selected
from fairvision.discover.embedding import EmbeddingCohort
from fairvision.discover.engine import Discovery, discover
from fairvision.discover.record import EXAMPLES_JSON
from fairvision.discover.serialize import to_json
from fairvision.discover.settings import Settings
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, write_json

log = logging.getLogger(__name__)


def discover_stage(predictions: Path, out: Path, *, labels: Sequence[str], favorable: str,
                   protected: Sequence[str], extra_columns: Sequence[str], settings: Settings,
                   model_dir: Path | None = None, prepared_dir: Path | None = None,
                   examples_dir: Path | None = None) -> Discovery:
    """Discover cohorts in ``predictions`` (parquet: id, label, pred, attributes), write ``out`` and return the run.

    With ``settings.uses_embeddings``, ``model_dir`` (the SavedModel that made the predictions) and
    ``prepared_dir`` (its test shards) are needed; ``examples_dir`` (None: no pictures) receives the
    selected embedding cohorts' examples. Raises FairvisionError
    naming the file for a missing column, a missing value, a repeated id, an unknown label, or a
    model exported without the endpoints.
    """
    table = pd.read_parquet(predictions)
    attributes = (*protected, *extra_columns)
    missing = {column: int(n) for column, n in table.isna().sum().items()
               if n and column in ("label", "pred", *attributes)}
    if missing:
        listed = ", ".join(f"`{column}` ({n} of {len(table)} rows)" for column, n in missing.items())
        raise FairvisionError(f"{predictions}: missing values in {listed}; discovery cannot put those rows in a "
                              "cohort. Fix the source's attributes and rerun `prepare` and `evaluate`")
    model = embeddings = None
    if settings.uses_embeddings:
        if model_dir is None or prepared_dir is None:
            raise ValueError("`discover.embeddings` searches the model's embeddings: pass model_dir and prepared_dir")
        model, embeddings = _embeddings(table, model_dir, prepared_dir, labels)
    try:
        found = discover(table, labels=labels, favorable=favorable, attributes=attributes, settings=settings,
                         embeddings=embeddings)
    except ValueError as error:
        raise FairvisionError(f"{predictions}: {error}") from None
    descriptions = describe_selected(found, table, attributes)
    if examples_dir is not None:
        _write_examples(examples_dir, descriptions, model, prepared_dir, table)
    write_json(out, to_json(found, descriptions))
    return found


def _embeddings(table: pd.DataFrame, model_dir: Path, prepared_dir: Path,
                labels: Sequence[str]) -> tuple[Any, np.ndarray]:
    """The loaded model (its endpoints draw the examples later) and every row's embedding, in the table's order."""
    from fairvision.explain.model import load_explained
    from fairvision.models.endpoints import EMBEDDINGS, SALIENCY
    from fairvision.models.pixels import iter_test_images

    model = load_explained(model_dir, (EMBEDDINGS, SALIENCY))
    if tuple(model.labels) != tuple(labels):
        raise FairvisionError(f"{model_dir}: the model's labels ({', '.join(model.labels)}) are not the dataset's "
                              f"({', '.join(labels)}); rerun `fairvision train` and `evaluate`")
    ids = table["id"].astype(str).tolist()
    found: dict[str, np.ndarray] = {}
    for batch_ids, pixels in iter_test_images(prepared_dir, model.image_size, ids):
        found.update(zip(batch_ids, model.embeddings(pixels)))
    log.info("discover: embeddings of %d test images from %s", len(ids), model_dir)
    return model, np.stack([found[i] for i in ids]) if ids else np.zeros((0, 0), np.float32)


def _write_examples(folder: Path, descriptions: dict[EmbeddingCohort, Description], model: Any,
                    prepared_dir: Path | None, table: pd.DataFrame) -> None:
    """A strip of each described cohort's examples under their Grad-CAM maps (the predicted class's), as PNGs."""
    from fairvision.explain import pictures
    from fairvision.models.pixels import read_test_pixels

    wanted = sorted({image for description in descriptions.values() for image in description.examples})
    pixels = dict(zip(wanted, read_test_pixels(prepared_dir, wanted, model.image_size))) if wanted else {}
    predicted = table.set_index(table["id"].astype(str))["pred"]  # one pass over the shards, one index
    index: dict[str, Any] = {}
    with atomic_path(folder, directory=True) as tmp:
        for cohort, description in descriptions.items():
            if not description.examples:
                continue
            images = np.stack([pixels[image] for image in description.examples])
            classes = np.array([model.labels.index(str(predicted[image])) for image in description.examples],
                               np.int32)
            name = f"{_slug(cohort.name)}.png"
            pictures.write_png(tmp / name, pictures.strip(images, model.saliency(images, classes).gradcam))
            index[cohort.name] = {"picture": name, "ids": list(description.examples)}
        write_json(tmp / EXAMPLES_JSON, {"schema_version": 1, "cohorts": index})


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
