"""Open a dataset that params.yaml `datasets` names, in any format, local or on S3, as one :class:`Source`.

Each format is one registered opener, ``@source_format(name)``: ``(root, dataset) -> Source``, used as a
context manager (a format may hold its archive open while the images are read). Its name is the
params schema's plain data (``fairvision.params.FORMATS``, with the format's own keys there; a test
keeps the two equal), so adding a format is one function here plus its params entry.

FairFace carries its protected attributes in its CSVs. Cloud Annotations exports and image
folders carry labels only; their attributes come from an optional side CSV
(its ``attributes`` key names it, a key in the same folder or bucket, ``image,<attribute>,...``). An
image without a valid row there is rejected by name, and a row naming no image is listed too.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, ContextManager, Iterable, Iterator

from fairvision.data.attributes import parse_attribute_csv
from fairvision.data.cloud_annotations import cloud_annotations_source
from fairvision.data.fairface import fairface_source
from fairvision.data.image_folder import image_folder_source
from fairvision.data.source import Rejection, Source
from fairvision.data.storage import Root, open_root
from fairvision.errors import FairvisionError
from fairvision.params import Dataset


Opener = Callable[[Root, Dataset], ContextManager[Source]]
FORMATS: dict[str, Opener] = {}


def source_format(name: str) -> Callable[[Opener], Opener]:
    """Register the decorated opener as `datasets.<D>.source.format` ``name``."""

    def register(opener: Opener) -> Opener:
        FORMATS[name] = opener
        return opener

    return register


@contextlib.contextmanager
def open_source(dataset: Dataset) -> Iterator[Source]:
    """The dataset at ``dataset.path`` (a folder or ``s3://bucket/prefix``) in ``dataset.format``."""
    if dataset.format not in FORMATS:
        raise FairvisionError(f"params.yaml `{dataset.key('format')}`: unknown format {dataset.format!r}; "
                              f"known: {', '.join(sorted(FORMATS))}")
    try:
        root = open_root(dataset.path)
    except FairvisionError as error:
        raise FairvisionError(f"{error} (params.yaml `{dataset.key('path')}`)") from None
    with FORMATS[dataset.format](root, dataset) as source:
        yield _checked(source, dataset)


@source_format("fairface")
@contextlib.contextmanager
def _fairface(root: Root, dataset: Dataset) -> Iterator[Source]:
    with fairface_source(root, dataset.padding, dataset.target) as source:
        yield source


@source_format("cloud_annotations")
@contextlib.contextmanager
def _cloud_annotations(root: Root, dataset: Dataset) -> Iterator[Source]:
    files = _label_files(root, dataset)
    yield _side_attributes(root, dataset, cloud_annotations_source(root, files, dataset.multi_label), files)


@source_format("image_folder")
@contextlib.contextmanager
def _image_folder(root: Root, dataset: Dataset) -> Iterator[Source]:
    files = _label_files(root, dataset)
    yield _side_attributes(root, dataset, image_folder_source(root, files), files)


def _label_files(root: Root, dataset: Dataset) -> list[str]:
    """Every file of a labels-only dataset but its attribute table."""
    return [key for key in root.list_files() if key != dataset.attributes]


def _side_attributes(root: Root, dataset: Dataset, source: Source, files: list[str]) -> Source:
    """``source`` with the attributes of its side CSV, when params.yaml names one."""
    if not dataset.attributes:
        return source
    if not root.exists(dataset.attributes):
        raise FairvisionError(f"{root.location}/{dataset.attributes}: attribute table not found "
                              f"(params.yaml `{dataset.key('attributes')}` names a CSV in the dataset folder)")
    return with_attributes(source, dataset.attributes, root.read(dataset.attributes), files)


def with_attributes(source: Source, name: str, data: bytes, files: Iterable[str]) -> Source:
    """``source`` with each candidate's attributes from the side CSV ``name``; images without a good row are rejected.

    Rows may name any file of the dataset (``files``), unlabelled images included. A bad row
    that names an example's image without a good row becomes that example's rejection reason;
    every other bad row (naming no file, or a second row) is a rejection of its own.
    """
    images = {c.image for c in source.candidates}
    table = parse_attribute_csv(data, f"{source.location}/{name}", files)
    reasons: dict[str, str] = {}
    strays = []
    for line, key, reason in table.rejected:
        if key in images and key not in table.values and key not in reasons:
            reasons[key] = f"{name} line {line}: {reason}"
        else:
            strays.append(Rejection(name, line, key, reason))
    candidates = tuple(
        dataclasses.replace(candidate, attributes=table.values[candidate.image]) if candidate.image in table.values
        else dataclasses.replace(candidate, problem=candidate.problem or reasons.get(candidate.image)
                                 or f"no row for this image in {name}")
        for candidate in source.candidates
    )
    return dataclasses.replace(source, attributes=table.attributes, candidates=candidates,
                               rejected=source.rejected + tuple(strays), metadata={**source.metadata, name: data})


def _checked(source: Source, dataset: Dataset) -> Source:
    """Every protected attribute must be one the dataset has: a typo must not silently audit nothing."""
    unknown = [attribute for attribute in dataset.protected if attribute not in source.attributes]
    if unknown:
        have = (", ".join(source.attributes) if source.attributes
                else f"none (give a side CSV `image,<attribute>,...` with params.yaml `{dataset.key('attributes')}`)")
        raise FairvisionError(f"params.yaml `{dataset.key('protected')}` lists {', '.join(unknown)}, which "
                              f"{source.location} does not have; its attributes: {have}")
    return source
