"""Stage `prepare`: a FairFace-format source -> manifest.parquet, shards, datasheet, rejections.

Every row is validated (values, image present, non-empty, decodable); a row that fails
is written to rejected.csv with its reason and counted in the datasheet, so nothing
disappears silently. The output folder is written whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from fairvision.data.datasheet import build_datasheet
from fairvision.data.fairface import ATTRIBUTE_VALUES, ImageStore, read_label_rows, row_problem
from fairvision.data.shards import write_shards
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, write_json
from fairvision.params import Dataset, Prepare
from fairvision.progress import progress

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("id", "image", "split", "label", *ATTRIBUTE_VALUES, "sha256")
REJECTED_COLUMNS = ("csv", "line", "file", "reason")
TF_DECODABLE = {"JPEG", "PNG"}
# FairFace ships train/ and val/; its val is the held-out test split, and our validation
# split is carved from its train.
FAIRFACE_SPLITS = {"train": "train", "val": "test"}


def prepare(dataset: Dataset, options: Prepare, out_dir: str | Path) -> None:
    """Validate the source and write manifest.parquet, shards/, datasheet.json, rejected.csv."""
    root = Path(dataset.path)
    if not root.is_dir():
        raise FairvisionError(f"{root}: dataset folder not found (params.yaml `dataset.path`)")
    store = ImageStore(root, dataset.padding)
    try:
        rows, images, rejected, source_hash = _validate(root, store)
    finally:
        store.close()
    if not rows:
        raise FairvisionError(f"{root}: no usable images ({len(rejected)} rejected; see the reasons above)")
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest["label"] = manifest[dataset.target]
    _carve_validation(manifest, options.val_fraction)
    labels = sorted(manifest.loc[manifest["split"] == "train", "label"].unique())
    unseen = manifest[~manifest["label"].isin(labels)]
    if len(unseen):
        raise FairvisionError(f"{root}: labels {sorted(unseen['label'].unique())} occur in val but never in train")
    datasheet = build_datasheet(
        manifest,
        attributes=tuple(ATTRIBUTE_VALUES),
        protected=dataset.protected,
        labels=labels,
        rejected=len(rejected),
        header={
            "dataset": dataset.name,
            "format": dataset.format,
            "source": str(store.source),
            "source_sha256": source_hash,
            "target": dataset.target,
        },
    )
    label_index = {label: i for i, label in enumerate(labels)}
    with atomic_path(out_dir, directory=True) as tmp:
        manifest.to_parquet(tmp / "manifest.parquet", index=False)
        _write_rejected(tmp / "rejected.csv", rejected)
        write_json(tmp / "datasheet.json", datasheet)
        (tmp / "shards").mkdir()
        for split in ("train", "val", "test"):
            part = manifest[manifest["split"] == split]
            records = [(i, images[i], label_index[label]) for i, label in zip(part["id"], part["label"])]
            write_shards(tmp / "shards", split, records, options.shard_size)
    log.info(
        "prepared %d images (%s), %d rejected -> %s",
        len(manifest),
        ", ".join(f"{k} {v}" for k, v in datasheet["n_images"].items()),
        len(rejected),
        out_dir,
    )


def _validate(root: Path, store: ImageStore) -> tuple[list[dict], dict[str, bytes], list[dict], str]:
    """Check every row; return accepted rows, their image bytes, rejections and a content hash."""
    rows, images, rejected, seen = [], {}, [], set()
    source_hash = hashlib.sha256()
    for csv_split, split in FAIRFACE_SPLITS.items():
        source_hash.update((root / f"fairface_label_{csv_split}.csv").read_bytes())
        for row in progress(list(read_label_rows(root, csv_split)), f"validate {csv_split}"):
            key = row.values.get("file", "")
            record_id = key.rsplit(".", 1)[0]
            problem = row_problem(row) or (f"duplicate of image id {record_id!r}" if record_id in seen else None)
            data = None
            if problem is None:
                data = store.read(key)
                problem, data = _image_problem(data)
            if problem is not None:
                rejected.append({"csv": row.csv_name, "line": row.line, "file": key, "reason": problem})
                log.warning("%s line %d (%s): rejected: %s", row.csv_name, row.line, key, problem)
                continue
            seen.add(record_id)
            digest = hashlib.sha256(data).hexdigest()
            source_hash.update(digest.encode())
            images[record_id] = data
            rows.append(
                {"id": record_id, "image": key, "split": split, "sha256": digest}
                | {attribute: row.values[attribute] for attribute in ATTRIBUTE_VALUES}
            )
    return rows, images, rejected, source_hash.hexdigest()


def _image_problem(data: bytes | None) -> tuple[str | None, bytes | None]:
    """(reason, None) for an unusable image, else (None, bytes TensorFlow can decode).

    Formats TensorFlow cannot decode (or colour modes it mishandles) are re-encoded
    once as PNG here, so training and serving only ever see JPEG or PNG.
    """
    if data is None:
        return "image not found in the dataset", None
    if not data:
        return "image file is empty", None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.format in TF_DECODABLE and image.mode in ("RGB", "L"):
                return None, data
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
            return None, buffer.getvalue()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        return f"cannot decode image ({error})", None


def _carve_validation(manifest: pd.DataFrame, fraction: float) -> None:
    """Move a stable ``fraction`` of train rows to `val`, chosen by a hash of the id.

    A hash, not a random draw, so an image keeps its split when others are added or removed.
    """
    def unit(record_id: str) -> float:
        return int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16) / 2**32

    is_val = (manifest["split"] == "train") & manifest["id"].map(unit).lt(fraction)
    manifest.loc[is_val, "split"] = "val"


def _write_rejected(path: Path, rejected: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REJECTED_COLUMNS)
        writer.writeheader()
        writer.writerows(rejected)
