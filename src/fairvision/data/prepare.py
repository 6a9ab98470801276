"""Stage `prepare`: any source -> manifest.parquet, shards, datasheet.json, rejected.csv.

Every example a source lists is validated (a valid row, a label that labels.txt can hold, a
safe key, a readable image within `prepare.max_image_bytes` by the size it declares, within
`prepare.max_image_pixels` by its header, decodable, not a byte-for-byte copy of an example
already accepted); one that fails is written to rejected.csv with its reason and counted in the
datasheet, so nothing disappears silently. The output folder is written whole or not at all.

Two passes keep memory flat however large the dataset: the first validates each image and
keeps only its key, digest and how to store it; the second re-reads each accepted image from
the source while writing the shards in manifest order (checking its digest, so a source
changed mid-run is an error, not a silently different shard).

Splits the source does not fix are carved by a hash of the image's id, so an image keeps its
split when others are added or removed, and all boxes of one image land in the same split.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import itertools
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd

from fairvision.data.datasheet import build_datasheet
from fairvision.data.fairface import image_id
from fairvision.data.formats import open_source
from fairvision.data.images import quiet_bomb_warnings, stored_image
from fairvision.data.manifest import BOX, class_labels, manifest_columns
from fairvision.data.shards import label_problem, write_shards
from fairvision.data.source import SPLITS, Box, Candidate, Rejection, Source
from fairvision.data.storage import UnreadableFile
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, write_json
from fairvision.params import MAX_IMAGE_BYTES, Dataset, Prepare
from fairvision.progress import progress

log = logging.getLogger(__name__)

# Candidates per thread task: one task per image would cost more in hand-offs between threads than
# decoding a small image does.
CHUNK = 64
REJECTED_COLUMNS = tuple(field.name for field in dataclasses.fields(Rejection))  # listed_in, line, image, reason


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    """What pass 2 needs to reproduce an accepted example's stored bytes without keeping them."""

    key: str
    box: Box | None
    reencode: bool
    sha256: str  # of the stored bytes (the manifest's sha256)


@dataclasses.dataclass(frozen=True)
class Validation:
    """Pass 1's result: manifest rows, how to re-read them, rejections, and the source's content hash."""

    rows: list[dict]
    accepted: dict[str, Accepted]
    rejected: list[Rejection]
    source_sha256: str


def prepare(dataset: Dataset, options: Prepare, out_dir: str | Path) -> None:
    """Validate the source and write manifest.parquet, shards/, datasheet.json, rejected.csv."""
    with open_source(dataset) as source:
        checked = validate_source(source, options.max_image_pixels, max_bytes=options.max_image_bytes)
        _check_reject_share(source.location, len(checked.rows), checked.rejected, options.max_reject_fraction)
        boxes = any(candidate.box is not None for candidate in source.candidates)
        manifest = pd.DataFrame(checked.rows, columns=manifest_columns(source.attributes, boxes))
        assign_splits(manifest, source.splits, options.val_fraction, options.test_fraction)
        labels = _labels(manifest, source.location)
        datasheet = build_datasheet(
            manifest,
            attributes=source.attributes,
            protected=dataset.protected,
            labels=labels,
            rejected=len(checked.rejected),
            unlabelled=source.unlabelled,
            header={
                "dataset": dataset.name,
                "format": dataset.format,
                "source": source.location,
                "source_sha256": checked.source_sha256,
                "target": dataset.target,
            },
        )
        label_index = {label: i for i, label in enumerate(labels)}
        with atomic_path(out_dir, directory=True) as tmp:
            manifest.to_parquet(tmp / "manifest.parquet", index=False)
            _write_rejected(tmp / "rejected.csv", checked.rejected)
            write_json(tmp / "datasheet.json", datasheet)
            (tmp / "shards").mkdir()
            for split in SPLITS:
                part = manifest[manifest["split"] == split]
                records = stored_images(source, checked.accepted, part["id"].tolist(),
                                        [label_index[x] for x in part["label"]], max_bytes=options.max_image_bytes)
                write_shards(tmp / "shards", split, records, options.shard_size, total=len(part))
    log.info("prepared %d images (%s), %d rejected, %d unlabelled -> %s", len(manifest),
             ", ".join(f"{k} {v}" for k, v in datasheet["n_images"].items()), len(checked.rejected),
             source.unlabelled, out_dir)


def validate_source(source: Source, max_pixels: int, workers: int | None = None, *,
                    max_bytes: int = MAX_IMAGE_BYTES) -> Validation:
    """Pass 1: check every candidate; no image bytes outlive their candidate, so memory grows with rows only.

    Reading, hashing and decoding run on ``workers`` threads (default: one per CPU; Pillow,
    zlib and hashlib release the GIL while they work), each image read only when the size it
    declares is at most ``max_bytes``, so the image bytes held at once stay below ``workers``
    times that; the checks that depend on earlier candidates (duplicates) run in order here, so
    the result does not depend on the threads.
    """
    rows: list[dict] = []
    accepted: dict[str, Accepted] = {}
    first_with_bytes: dict[tuple[str, Box | None], str] = {}  # (sha256 of the source bytes, box) -> first key
    rejected = list(source.rejected)
    source_hash = hashlib.sha256()
    for name in sorted(source.metadata):
        source_hash.update(f"{name}\0{len(source.metadata[name])}\0".encode() + source.metadata[name])
    candidates = _with_label_problems(source.candidates)
    look = functools.partial(inspect_all, read=source.read, max_pixels=max_pixels, max_bytes=max_bytes)
    chunks = [candidates[start:start + CHUNK] for start in range(0, len(candidates), CHUNK)]
    with quiet_bomb_warnings(), ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        found = zip(candidates, itertools.chain.from_iterable(pool.map(look, chunks)))
        for candidate, seen in progress(found, "validate", total=len(candidates)):
            problem = _problem(candidate, seen, accepted, first_with_bytes)
            if problem is not None:
                rejected.append(Rejection(candidate.listed_in, candidate.line, candidate.image, problem))
                where = f"{candidate.listed_in} line {candidate.line}" if candidate.line else candidate.listed_in
                log.warning("%s (%s): rejected: %s", where, candidate.image, problem)
                continue
            digest = seen.stored_sha256
            accepted[candidate.id] = Accepted(candidate.image, candidate.box, digest != seen.source_sha256, digest)
            first_with_bytes[seen.source_sha256, candidate.box] = candidate.image
            source_hash.update(f"{candidate.id}\0{candidate.label}\0{digest}\0".encode())
            rows.append({"id": candidate.id, "image": candidate.image, "split": candidate.split,
                         "label": candidate.label, **candidate.attributes, "sha256": digest,
                         **({BOX: list(candidate.box)} if candidate.box else {})})
    if not rows:
        raise FairvisionError(f"{source.location}: no usable images ({len(rejected)} rejected; see the reasons above)")
    return Validation(rows, accepted, rejected, source_hash.hexdigest())


def _with_label_problems(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates, with a problem for each whose label labels.txt could not hold: a line break in a folder
    name or an `_annotations.json` label would come back as two labels after training."""
    problems = {label: label_problem(label) for label in {candidate.label for candidate in candidates}}
    return [candidate if candidate.problem is not None or problems[candidate.label] is None
            else dataclasses.replace(candidate, problem=f"label {candidate.label!r} {problems[candidate.label]}")
            for candidate in candidates]


@dataclasses.dataclass(frozen=True, slots=True)
class Inspection:
    """What reading and decoding one candidate's image found, independent of every other candidate."""

    unreadable: str | None = None  # why the image could not be read
    source_sha256: str | None = None
    undecodable: str | None = None  # why the bytes are not a usable image
    stored_sha256: str | None = None


def inspect_all(candidates: Sequence[Candidate], read: Callable[[str, int], bytes], max_pixels: int,
                max_bytes: int) -> list[Inspection]:
    return [inspect(candidate, read, max_pixels, max_bytes) for candidate in candidates]


def inspect(candidate: Candidate, read: Callable[[str, int], bytes], max_pixels: int, max_bytes: int) -> Inspection:
    """Read (within ``max_bytes``), hash and decode one candidate's image (a known problem skips the work)."""
    if candidate.problem is not None:
        return Inspection()
    try:
        data = read(candidate.image, max_bytes)
    except UnreadableFile as unreadable:
        return Inspection(unreadable=unreadable.reason)
    source_sha = hashlib.sha256(data).hexdigest()
    problem, stored = stored_image(data, max_pixels, candidate.box)
    if stored is None:
        return Inspection(source_sha256=source_sha, undecodable=problem or "cannot decode image")
    return Inspection(source_sha256=source_sha,
                      stored_sha256=source_sha if stored is data else hashlib.sha256(stored).hexdigest())


def _problem(
    candidate: Candidate, seen: Inspection, accepted: dict[str, Accepted],
    first_with_bytes: dict[tuple[str, Box | None], str],
) -> str | None:
    """Why the candidate is rejected, in a fixed order of checks, or None."""
    if candidate.problem is not None:
        return candidate.problem
    first = accepted.get(candidate.id)
    if first is not None:
        return f"duplicate of image id {candidate.id!r} (already used by {first.key})"
    if seen.unreadable is not None:
        return seen.unreadable
    if (seen.source_sha256, candidate.box) in first_with_bytes:
        what = "image" if candidate.box is None else "box of an image"
        return f"duplicate {what}: same bytes as {first_with_bytes[seen.source_sha256, candidate.box]}"
    return seen.undecodable


def stored_images(
    source: Source, accepted: dict[str, Accepted], ids: list[str], labels: list[int], *, max_bytes: int
) -> Iterator[tuple[str, bytes, int]]:
    """Pass 2: re-read each image (within pass 1's ``max_bytes``), reproduce its stored bytes and check them
    against the manifest."""
    for record_id, label in zip(ids, labels):
        entry = accepted[record_id]
        try:
            data = source.read(entry.key, max_bytes)
        except UnreadableFile as unreadable:
            raise FairvisionError(f"{source.location}: {entry.key} vanished or changed while preparing "
                                  f"({unreadable.reason}); run `prepare` again") from None
        if entry.reencode:
            _, data = stored_image(data, max_pixels=None, box=entry.box)
        if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise FairvisionError(f"{source.location}: {entry.key} changed while preparing; run `prepare` again")
        yield record_id, data, label


def assign_splits(manifest: pd.DataFrame, given: frozenset[str], val_fraction: float, test_fraction: float) -> None:
    """Fill the splits the source left open, by a stable hash of each image's id.

    Where the source fixes no test split, ``test_fraction`` of all images becomes test; where it
    fixes no val split, ``val_fraction`` of the remaining train images becomes val.
    """
    unit = manifest["image"].map(lambda key: int(hashlib.sha256(image_id(key).encode()).hexdigest()[:8], 16) / 2**32)
    manifest["split"] = manifest["split"].fillna("train")
    if "test" not in given:
        manifest.loc[(manifest["split"] == "train") & unit.ge(1 - test_fraction), "split"] = "test"
    if "val" not in given:
        share = val_fraction * (1 - test_fraction) if "test" not in given else val_fraction
        manifest.loc[(manifest["split"] == "train") & unit.lt(share), "split"] = "val"


def _labels(manifest: pd.DataFrame, location: str) -> list[str]:
    """The train split's labels, sorted; a label only in val or test could never be predicted."""
    labels = class_labels(manifest)
    unseen = sorted(manifest.loc[~manifest["label"].isin(labels), "label"].unique())
    if unseen:
        raise FairvisionError(f"{location}: labels {unseen} occur in val or test but never in train")
    return labels


def _check_reject_share(location: str, accepted: int, rejected: list[Rejection], limit: float) -> None:
    """A few bad rows are listed and skipped; many mean a wrong folder or format, so stop and say why."""
    total = accepted + len(rejected)
    if len(rejected) <= limit * total:
        return
    kinds = Counter(row.reason.split(":")[0].split(" (")[0] for row in rejected)
    commonest = "; ".join(f"{reason} ({n})" for reason, n in kinds.most_common(3))
    raise FairvisionError(
        f"{location}: {len(rejected)} of {total} rows rejected ({len(rejected) / total:.1%}), more than "
        f"params.yaml `prepare.max_reject_fraction` ({limit:g}); commonest reasons: {commonest}. "
        "Each row is listed in the warnings above; raise the fraction to keep going without them.")


def _write_rejected(path: Path, rejected: list[Rejection]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTED_COLUMNS)
        writer.writerows(dataclasses.astuple(row) for row in rejected)
