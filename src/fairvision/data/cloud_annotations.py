"""The Cloud Annotations format: ``_annotations.json`` next to the images, as the tool exports it.

``{"version": "1.0", "type": "classification" | "localization", "labels": [...],
"annotations": {"<image key>": [{"label": "cat"}, ...]}}``; localization entries add the box
as normalised ``x, y, x2, y2`` (0-1) and may carry extra keys (``id``, ...), which are ignored.

Every image becomes zero or more labelled examples: classification gives one per image
(several labels on one image follow ``multi_label``: ``reject`` it, listed, by default; or keep
the ``first``), localization one per box, which `prepare` crops. Nothing is dropped
silently: a bad entry is a rejection with its reason, and an image absent from
``annotations`` is counted as unlabelled. Label names are data (any Unicode, markup
included) and are kept exactly as written. A malformed file (not JSON, wrong shape) is fatal,
naming the file and the key at fault.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Iterable, Literal

from fairvision.data.images import IMAGE_SUFFIXES, NOT_AN_IMAGE
from fairvision.data.source import FOLDER_LISTING, Box, Candidate, Rejection, Source
from fairvision.data.storage import Root
from fairvision.errors import FairvisionError
from fairvision.keys import key_problem
from fairvision.params import MULTI_LABEL_POLICIES

ANNOTATIONS_FILE = "_annotations.json"
TYPES = ("classification", "localization")
BOX_KEYS = ("x", "y", "x2", "y2")


@dataclasses.dataclass(frozen=True)
class Example:
    """One labelled example: a whole image, or one box of it (``index`` counts the image's boxes)."""

    key: str
    label: str
    box: Box | None = None
    index: int = 0

    @property
    def id(self) -> str:
        """Stable and unique: the key for a whole image, ``key#index`` for a box."""
        return self.key if self.box is None else f"{self.key}#{self.index}"


@dataclasses.dataclass(frozen=True)
class Annotations:
    """What ``_annotations.json`` yields: examples, rejections with reasons, unlabelled image keys."""

    type: Literal["classification", "localization"]
    labels: tuple[str, ...]
    examples: tuple[Example, ...]
    rejected: tuple[Rejection, ...]
    unlabelled: tuple[str, ...]


def parse_annotations(
    text: str | bytes, source: str, image_keys: Iterable[str], *, multi_label: str = "reject"
) -> Annotations:
    """Parse ``_annotations.json`` (``source`` names it in errors) against the image keys found beside it."""
    if multi_label not in MULTI_LABEL_POLICIES:
        raise FairvisionError(f"multi_label must be one of {', '.join(MULTI_LABEL_POLICIES)}, got {multi_label!r}")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise FairvisionError(f"{source}: not valid JSON: {error}") from None
    kind, labels, annotations = _header(data, source)
    images = set(image_keys)
    examples: list[Example] = []
    rejected: list[Rejection] = []
    for key, entries in annotations.items():
        problem = _key_problem(key, images)
        if problem is None and not isinstance(entries, list):
            raise FairvisionError(f"{source}: `annotations.{key}` must be a list of {{\"label\": ...}} entries")
        if problem is None:
            found, problem = _examples(kind, key, entries, labels, multi_label)
            examples.extend(found)
        if problem is not None:
            rejected.append(Rejection(ANNOTATIONS_FILE, None, key, problem))
    unlabelled = tuple(sorted(images - set(annotations)))
    return Annotations(kind, labels, tuple(examples), tuple(rejected), unlabelled)


def _header(data: Any, source: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    if not isinstance(data, dict):
        raise FairvisionError(f"{source}: must be a JSON object with `type`, `labels` and `annotations`")
    missing = [key for key in ("type", "labels", "annotations") if key not in data]
    if missing:
        raise FairvisionError(f"{source}: missing {', '.join(f'`{key}`' for key in missing)}")
    if data["type"] not in TYPES:
        raise FairvisionError(f"{source}: `type` must be one of {', '.join(TYPES)}, got {data['type']!r}")
    labels = data["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        raise FairvisionError(f"{source}: `labels` must be a list of non-empty strings")
    if not isinstance(data["annotations"], dict):
        raise FairvisionError(f"{source}: `annotations` must be an object keyed by image")
    return data["type"], tuple(labels), data["annotations"]


def _key_problem(key: str, images: set[str]) -> str | None:
    """Only relative keys that stay under the root (the storage layer's rule), naming an image that is there."""
    problem = key_problem(key)
    if problem is not None:
        return f"image key {problem}"
    if key not in images:
        return "image not found next to _annotations.json"
    return None


def _examples(
    kind: str, key: str, entries: list[Any], labels: tuple[str, ...], multi_label: str
) -> tuple[list[Example], str | None]:
    """The image's examples, or ([], the reason it is rejected)."""
    if not entries:
        return [], "annotated with an empty list (no label)"
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            return [], f"entry {n} has no `label` string"
        if entry["label"] not in labels:
            return [], f"entry {n}: label {entry['label']!r} is not in `labels`"
    if kind == "classification":
        names = list(dict.fromkeys(entry["label"] for entry in entries))
        if len(names) > 1 and multi_label == "reject":
            return [], f"{len(names)} different labels ({', '.join(names)}); multi_label policy is reject"
        return [Example(key, names[0])], None
    examples = []
    for n, entry in enumerate(entries):
        box, problem = _box(entry)
        if problem is not None:
            return [], f"box {n}: {problem}"
        examples.append(Example(key, entry["label"], box, n))
    return examples, None


def _box(entry: dict[str, Any]) -> tuple[Box | None, str | None]:
    missing = [k for k in BOX_KEYS if k not in entry]
    if missing:
        return None, f"missing {', '.join(missing)}"
    values = [entry[k] for k in BOX_KEYS]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
        return None, f"coordinates must be numbers, got {values}"
    x, y, x2, y2 = (float(v) for v in values)
    if not all(0.0 <= v <= 1.0 for v in (x, y, x2, y2)):
        return None, f"coordinates must lie in [0, 1] (normalised), got {values}"
    if x2 <= x or y2 <= y:
        return None, f"degenerate box (x2 <= x or y2 <= y): {values}"
    return (x, y, x2, y2), None


def cloud_annotations_source(root: Root, files: Iterable[str], multi_label: str) -> Source:
    """A Cloud Annotations folder or bucket as a :class:`Source`; ``files``: its keys, metadata files left out."""
    if not root.exists(ANNOTATIONS_FILE):
        raise FairvisionError(f"{root.location}: no {ANNOTATIONS_FILE} (is this a Cloud Annotations export?)")
    text = root.read(ANNOTATIONS_FILE)
    files = [key for key in files if key != ANNOTATIONS_FILE]
    images = [key for key in files if key.lower().endswith(IMAGE_SUFFIXES)]
    parsed = parse_annotations(text, f"{root.location}/{ANNOTATIONS_FILE}", images, multi_label=multi_label)
    not_images = [key for key in files if not key.lower().endswith(IMAGE_SUFFIXES)]
    rejected = parsed.rejected + tuple(Rejection(FOLDER_LISTING, None, key, NOT_AN_IMAGE) for key in not_images)
    candidates = tuple(Candidate(ANNOTATIONS_FILE, None, e.key, e.id, e.label, {}, box=e.box) for e in parsed.examples)
    return Source(location=root.location, attributes=(), splits=frozenset(), candidates=candidates, rejected=rejected,
                  unlabelled=len(parsed.unlabelled), metadata={ANNOTATIONS_FILE: text}, read=root.read)
