"""Stage `evaluate@<dataset>-<backbone>-<seed>`: batch prediction on the test split with the exported model.

It calls the SavedModel's serving signature, not the Keras object, so the audit measures
exactly the artifact that gets served.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fairvision.data.manifest import attribute_columns
from fairvision.data.shards import read_records, shard_paths
from fairvision import layout
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, require
from fairvision.models.export import load_classifier, read_labels
from fairvision.progress import progress

log = logging.getLogger(__name__)


def probability_column(label: str) -> str:
    """Name of the predictions.parquet column holding P(label)."""
    return f"prob_{label}"


def _check_classes(classes, labels: list[str], model_dir: Path) -> None:
    """The model's own class names must be labels.txt, in order: probabilities are read by position."""
    served = [name.decode("utf-8") for name in classes.numpy()[0]]
    if served != labels:
        raise FairvisionError(f"{model_dir / 'labels.txt'}: lists {labels}, but the model's signature returns "
                              f"classes {served}; retrain with `fairvision {layout.train_command(model_dir)}`")


def evaluate(model_dir: str | Path, prepared_dir: str | Path, batch_size: int, out_path: str | Path) -> None:
    """Predict every test image; write predictions.parquet with labels, probabilities and attributes."""
    model_dir, prepared_dir = Path(model_dir), Path(prepared_dir)
    require(model_dir / "saved_model.pb", layout.train_command(model_dir))
    labels = read_labels(model_dir)
    manifest = pd.read_parquet(require(prepared_dir / "manifest.parquet", "prepare")).set_index("id")
    classify = load_classifier(model_dir)
    paths = shard_paths(prepared_dir / "shards", "test")
    n_test = int((manifest["split"] == "test").sum())

    ids, probabilities = [], []
    batches = read_records(paths).batch(batch_size)
    for batch in progress(batches, "predict", total=-(-n_test // batch_size)):
        outputs = classify(image_bytes=batch["image"])
        if not probabilities:
            _check_classes(outputs["classes"], labels, model_dir)
        probabilities.append(outputs["probabilities"].numpy())
        ids.extend(i.decode() for i in batch["id"].numpy())
    if not ids:
        raise FairvisionError(f"{prepared_dir}: the test split is empty")

    probabilities = np.concatenate(probabilities)
    rows = manifest.loc[ids]
    predictions = pd.DataFrame({"id": ids, "label": rows["label"].to_numpy()})
    predictions["pred"] = np.asarray(labels)[probabilities.argmax(axis=1)]
    for index, label in enumerate(labels):
        predictions[probability_column(label)] = probabilities[:, index]
    for attribute in attribute_columns(manifest.columns):
        predictions[attribute] = rows[attribute].to_numpy()
    with atomic_path(out_path) as tmp:
        predictions.to_parquet(tmp, index=False)
    accuracy = float((predictions["label"] == predictions["pred"]).mean())
    log.info("predicted %d test images, accuracy %.4f -> %s", len(predictions), accuracy, out_path)
