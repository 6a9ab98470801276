"""What every dataset source gives `prepare`: candidate examples, rejections, and a way to read images.

A source (FairFace's CSVs and zip, a Cloud Annotations export, an image folder) turns its own
format into :class:`Candidate` examples, each saying where it was listed, so that `prepare`
validates, deduplicates, splits and shards every format with one implementation. A candidate
that its source already knows to be bad carries ``problem``; `prepare` rejects it by name.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

SPLITS = ("train", "val", "test")
Box = tuple[float, float, float, float]  # normalised x, y, x2, y2
FOLDER_LISTING = "(folder listing)"  # Candidate.listed_in for a file found by listing the root, not named in a file


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """One example a source lists: an image (or one box of it), its label and protected attributes.

    ``split`` is the source's own split (FairFace's CSVs, split folders) or None for `prepare`
    to carve; ``box`` makes the example a crop of the image.
    """

    listed_in: str  # the file (or folder listing) that names the example, for rejected.csv
    line: int | None
    image: str  # key of the image under the dataset root
    id: str  # the manifest's id: stable and unique within the dataset
    label: str
    attributes: Mapping[str, str]
    split: str | None = None
    box: Box | None = None
    problem: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """An input that gives no example, with the reason; one row of rejected.csv."""

    listed_in: str
    line: int | None
    image: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset opened for `prepare`: what it lists and how to read an image by key.

    ``read(key, max_bytes)`` raises :class:`fairvision.data.storage.UnreadableFile` for an
    image that cannot be read, and for one larger than ``max_bytes``, judged by the size it
    declares before any byte is read (``storage.read_capped``); ``metadata`` holds the bytes
    of the files that list the examples (CSVs, ``_annotations.json``), hashed into the
    datasheet's ``source_sha256``.
    """

    location: str
    attributes: tuple[str, ...]
    splits: frozenset[str]  # the splits the source fixes itself (even if empty); `prepare` carves the others
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]
    unlabelled: int
    metadata: Mapping[str, bytes]
    read: Callable[[str, int], bytes]
