"""An image folder as a dataset: the label is the folder, as TFDS's ``ImageFolder`` has it.

Two layouts, told apart by the top-level folders: ``root/<label>/<image>``, or
``root/<split>/<label>/<image>`` when every top-level folder is a split name (``train``,
``val``, ``test``). Without split folders, ``prepare`` carves the splits itself. Every file
that is not an image at the right depth is a rejection with its reason, never skipped
silently; hidden files (``.DS_Store``) and ``_annotations.json``-style metadata included.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath
from typing import Iterable

from fairvision.data.images import IMAGE_SUFFIXES, NOT_AN_IMAGE
from fairvision.data.source import FOLDER_LISTING, SPLITS, Candidate, Rejection, Source
from fairvision.data.storage import Root


@dataclasses.dataclass(frozen=True)
class FolderImage:
    """One image: its key under the root, its label (the folder), and its split folder if the layout has one."""

    key: str
    label: str
    split: str | None


@dataclasses.dataclass(frozen=True)
class FolderListing:
    images: tuple[FolderImage, ...]
    rejected: tuple[tuple[str, str], ...]  # (key, reason)
    has_splits: bool

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({image.label for image in self.images}))


def list_image_folder(keys: Iterable[str]) -> FolderListing:
    """Sort the root's files (relative keys, ``/``-separated) into labelled images and rejections."""
    keys = sorted(keys)
    tops = {PurePosixPath(key).parts[0] for key in keys if len(PurePosixPath(key).parts) > 1}
    has_splits = bool(tops) and tops <= set(SPLITS)
    depth = 3 if has_splits else 2
    images, rejected = [], []
    for key in keys:
        parts = PurePosixPath(key).parts
        problem = _problem(parts, depth)
        if problem:
            rejected.append((key, problem))
            continue
        images.append(FolderImage(key, parts[-2], parts[0] if has_splits else None))
    return FolderListing(tuple(images), tuple(rejected), has_splits)


def _problem(parts: tuple[str, ...], depth: int) -> str | None:
    layout = "<split>/<label>/<image>" if depth == 3 else "<label>/<image>"
    if any(part.startswith(".") for part in parts):
        return "hidden file or folder"
    if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return NOT_AN_IMAGE
    if len(parts) != depth:
        return f"not at {layout}"
    return None


def image_folder_source(root: Root, files: Iterable[str]) -> Source:
    """An image folder (local or S3) as a :class:`Source`; ``files``: its keys, metadata files left out."""
    listing = list_image_folder(files)
    candidates = tuple(Candidate(FOLDER_LISTING, None, image.key, image.key, image.label, {}, split=image.split)
                       for image in listing.images)
    rejected = tuple(Rejection(FOLDER_LISTING, None, key, reason) for key, reason in listing.rejected)
    splits = frozenset(image.split for image in listing.images if image.split)
    return Source(location=root.location, attributes=(), splits=splits, candidates=candidates, rejected=rejected,
                  unlabelled=0, metadata={}, read=root.read)
