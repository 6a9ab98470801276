"""Stage `prepare`: a FairFace-format source -> manifest.parquet, shards, datasheet, rejections.

Every row is validated (values, a safe key, image present, non-empty, within
`prepare.max_image_pixels`, decodable, not a byte-for-byte copy of an image already
accepted); a row that fails is written to rejected.csv with its reason and counted in the
datasheet, so nothing disappears silently. The output folder is written whole or not at all.

Two passes keep memory flat however large the dataset: the first validates each image and
keeps only its key, digest and whether it needs re-encoding; the second re-reads each
accepted image from the source while writing the shards in manifest order (checking its
digest, so a source changed mid-run is an error, not a silently different shard).

Formats: JPEG and PNG (8-bit RGB or greyscale) are stored byte for byte. BMP, GIF
(first frame), TIFF and WEBP, and JPEG/PNG in other modes (RGBA, LA, palette, CMYK,
16-bit), are re-encoded once to 8-bit RGB PNG, so training and serving only ever decode
JPEG or PNG. Anything else is rejected.
"""

from __future__ import annotations

import csv
from collections import Counter
import dataclasses
import hashlib
import io
import logging
import struct
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fairvision.data.datasheet import build_datasheet
from fairvision.data.fairface import (
    ATTRIBUTE_VALUES,
    ImageStore,
    LabelRow,
    MissingImage,
    image_id,
    label_csv,
    read_label_rows,
    row_problem,
)
from fairvision.data.shards import write_shards
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, write_json
from fairvision.params import Dataset, Prepare
from fairvision.progress import progress

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("id", "image", "split", "label", *ATTRIBUTE_VALUES, "sha256")
REJECTED_COLUMNS = ("csv", "line", "file", "reason")
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")  # Pillow format names
TF_DECODABLE = {"JPEG", "PNG"}
KEPT_MODES = {"RGB", "L"}
# Pillow's exceptions for corrupt files besides OSError/ValueError (e.g. "broken PNG file" is
# a SyntaxError); one bad image must become a rejection, not a traceback.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError, ZeroDivisionError)
# FairFace ships train/ and val/; its val is the held-out test split, and our validation
# split is carved from its train.
FAIRFACE_SPLITS = {"train": "train", "val": "test"}


@dataclasses.dataclass(frozen=True)
class Accepted:
    """What pass 2 needs to reproduce an accepted image's stored bytes without keeping them."""

    key: str
    reencode: bool
    sha256: str  # of the stored bytes (the manifest's sha256)


def prepare(dataset: Dataset, options: Prepare, out_dir: str | Path) -> None:
    """Validate the source and write manifest.parquet, shards/, datasheet.json, rejected.csv."""
    root = Path(dataset.path)
    if not root.is_dir():
        raise FairvisionError(f"{root}: dataset folder not found (params.yaml `dataset.path`)")
    store = ImageStore(root, dataset.padding)
    try:
        rows, accepted, rejected, source_hash = validate_source(root, store, options.max_image_pixels)
        if not rows:
            raise FairvisionError(f"{root}: no usable images ({len(rejected)} rejected; see the reasons above)")
        _check_reject_share(root, len(rows), rejected, options.max_reject_fraction)
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
                records = stored_images(store, accepted, part["id"].tolist(), [label_index[x] for x in part["label"]])
                write_shards(tmp / "shards", split, records, options.shard_size, total=len(part))
    finally:
        store.close()
    log.info(
        "prepared %d images (%s), %d rejected -> %s",
        len(manifest),
        ", ".join(f"{k} {v}" for k, v in datasheet["n_images"].items()),
        len(rejected),
        out_dir,
    )


def validate_source(
    root: Path, store: ImageStore, max_pixels: int
) -> tuple[list[dict], dict[str, Accepted], list[dict], str]:
    """Check every row; return accepted rows, how to re-read them, rejections and a content hash.

    No image bytes outlive their row: memory grows with the number of rows, not their size.
    """
    rows: list[dict] = []
    accepted: dict[str, Accepted] = {}
    by_source_sha: dict[str, str] = {}  # sha256 of the source bytes -> first key accepted with them
    rejected: list[dict] = []
    source_hash = hashlib.sha256()
    for csv_split, split in FAIRFACE_SPLITS.items():
        source_hash.update(label_csv(root, csv_split).read_bytes())
        for row in progress(list(read_label_rows(root, csv_split)), f"validate {csv_split}"):
            key = row.values["file"]
            problem, digests = _row_image(row, store, accepted, by_source_sha, max_pixels)
            if digests is None:
                rejected.append({"csv": row.csv_name, "line": row.line, "file": key, "reason": problem})
                log.warning("%s line %d (%s): rejected: %s", row.csv_name, row.line, key, problem)
                continue
            source_sha, digest = digests
            record_id = image_id(key)
            source_hash.update(digest.encode())
            accepted[record_id] = Accepted(key=key, reencode=digest != source_sha, sha256=digest)
            by_source_sha[source_sha] = key
            rows.append(
                {"id": record_id, "image": key, "split": split, "sha256": digest}
                | {attribute: row.values[attribute] for attribute in ATTRIBUTE_VALUES}
            )
    return rows, accepted, rejected, source_hash.hexdigest()


def _row_image(
    row: LabelRow, store: ImageStore, accepted: dict[str, Accepted], by_source_sha: dict[str, str], max_pixels: int
) -> tuple[str, None] | tuple[None, tuple[str, str]]:
    """(reason, None) for an unusable row, else (None, (sha256 of the source bytes, of the stored bytes))."""
    problem = row_problem(row)
    if problem is not None:
        return problem, None
    key = row.values["file"]
    first = accepted.get(image_id(key))
    if first is not None:
        return f"duplicate of image id {image_id(key)!r} (already used by {first.key})", None
    try:
        data = store.read(key)
    except MissingImage as missing:
        return missing.reason, None
    source_sha = hashlib.sha256(data).hexdigest()
    if source_sha in by_source_sha:
        return f"duplicate image: same bytes as {by_source_sha[source_sha]}", None
    problem, stored = _image_problem(data, max_pixels)
    if stored is None:
        return problem or "cannot decode image", None
    return None, (source_sha, source_sha if stored is data else hashlib.sha256(stored).hexdigest())


def stored_images(
    store: ImageStore, accepted: dict[str, Accepted], ids: list[str], labels: list[int]
) -> Iterator[tuple[str, bytes, int]]:
    """Pass 2: re-read each image, reproduce its stored bytes and check them against the manifest."""
    for record_id, label in zip(ids, labels):
        entry = accepted[record_id]
        try:
            data = store.read(entry.key)
        except MissingImage as missing:
            raise FairvisionError(f"{store.source}: {entry.key} vanished while preparing ({missing.reason})") from None
        if entry.reencode:
            _, data = _image_problem(data, max_pixels=None)
        if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise FairvisionError(f"{store.source}: {entry.key} changed while preparing; run `prepare` again")
        yield record_id, data, label


def _image_problem(data: bytes, max_pixels: int | None) -> tuple[str | None, bytes | None]:
    """(reason, None) for an unusable image, else (None, bytes TensorFlow can decode).

    The pixel count is read from the header and checked before any pixel is decoded, and
    Pillow's own decompression-bomb warning is an error here, so a crafted tiny file that
    claims to be huge is rejected instead of exhausting memory. ``max_pixels=None`` (pass 2
    only) skips the limit for an image pass 1 already accepted.
    """
    if not data:
        return "image file is empty", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                width, height = image.size
                if max_pixels is not None and width * height > max_pixels:
                    return (
                        f"image is {width}x{height} = {width * height:,} pixels, "
                        f"above prepare.max_image_pixels ({max_pixels:,})"
                    ), None
                image.load()
                if _kept_as_is(image, data):
                    return None, data
                return None, _to_png(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return f"image too large to decode safely ({error})", None
    except UnidentifiedImageError:
        return f"cannot decode image: not a {', '.join(ACCEPTED_FORMATS)} file", None
    except DECODE_ERRORS as error:
        return f"cannot decode image ({error})", None


def _kept_as_is(image: Image.Image, data: bytes) -> bool:
    """JPEG or 8-bit PNG in RGB or grey: TensorFlow decodes these exactly as found.

    A 16-bit PNG opens in Pillow as RGB or I;16 but TensorFlow would decode it to uint16,
    so it is re-encoded (the PNG header's bit depth is byte 24).
    """
    if image.format not in TF_DECODABLE or image.mode not in KEPT_MODES:
        return False
    return image.format != "PNG" or data[24:25] != b"\x10"


def _to_png(image: Image.Image) -> bytes:
    """Re-encode as 8-bit RGB PNG; 16-bit grey is scaled (Pillow's convert would clip it to white)."""
    if image.mode.startswith("I;16"):
        image = Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _carve_validation(manifest: pd.DataFrame, fraction: float) -> None:
    """Move a stable ``fraction`` of train rows to `val`, chosen by a hash of the id.

    A hash, not a random draw, so an image keeps its split when others are added or removed.
    """
    def unit(record_id: str) -> float:
        return int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16) / 2**32

    is_val = (manifest["split"] == "train") & manifest["id"].map(unit).lt(fraction)
    manifest.loc[is_val, "split"] = "val"


def _check_reject_share(root: Path, accepted: int, rejected: list[dict], limit: float) -> None:
    """A few bad rows are listed and skipped; many mean a wrong folder or format, so stop and say why."""
    total = accepted + len(rejected)
    if len(rejected) <= limit * total:
        return
    kinds = Counter(row["reason"].split(":")[0].split(" (")[0] for row in rejected)
    commonest = "; ".join(f"{reason} ({n})" for reason, n in kinds.most_common(3))
    raise FairvisionError(
        f"{root}: {len(rejected)} of {total} rows rejected ({len(rejected) / total:.1%}), more than "
        f"params.yaml `prepare.max_reject_fraction` ({limit:g}); commonest reasons: {commonest}. "
        "Each row is listed in the warnings above; raise the fraction to keep going without them.")


def _write_rejected(path: Path, rejected: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REJECTED_COLUMNS)
        writer.writeheader()
        writer.writerows(rejected)
