"""Protected attributes for a user's own images: an optional side CSV, ``image,<attribute>,...``.

Cloud Annotations and image folders carry labels but no demographics, so group fairness
needs a table saying, per image key, each protected attribute's value. Values are data
(any non-empty string). A bad row is a rejection with its line and reason; an image with no
row is listed as ``missing`` so the caller rejects it by name: nothing is dropped silently.
Read as UTF-8 with or without a BOM, any line endings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Iterable

from fairvision.data.manifest import RESERVED
from fairvision.errors import FairvisionError

KEY_COLUMN = "image"


@dataclasses.dataclass(frozen=True)
class AttributeTable:
    attributes: tuple[str, ...]
    values: dict[str, dict[str, str]]  # image key -> attribute -> value
    rejected: tuple[tuple[int, str, str], ...]  # (line, key, reason)
    missing: tuple[str, ...]  # image keys with no row


def parse_attribute_csv(data: bytes, source: str, image_keys: Iterable[str]) -> AttributeTable:
    """Parse the side CSV against the image keys of the dataset; a bad header is fatal, naming ``source``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FairvisionError(f"{source}: not UTF-8 text: {error}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    attributes = tuple(header[1:])
    if not header or header[0] != KEY_COLUMN or not attributes or not all(attributes) \
            or len(set(attributes)) != len(attributes) or set(attributes) & set(RESERVED):
        raise FairvisionError(f"{source}: header must be `{KEY_COLUMN},<attribute>,...` with distinct, non-empty "
                              f"attribute names other than {', '.join(RESERVED)}; got {','.join(header)!r}")
    images = set(image_keys)
    values: dict[str, dict[str, str]] = {}
    rejected = []
    for fields in reader:
        if not fields:
            continue
        line, key = reader.line_num, fields[0]
        problem = _row_problem(fields, len(header), key, images, values)
        if problem:
            rejected.append((line, key, problem))
            continue
        values[key] = dict(zip(attributes, fields[1:]))
    missing = tuple(sorted(images - set(values)))
    return AttributeTable(attributes, values, tuple(rejected), missing)


def _row_problem(fields: list[str], width: int, key: str, images: set[str], seen: dict) -> str | None:
    if len(fields) != width:
        return f"expected {width} fields, got {len(fields)}"
    if key in seen:
        return f"a second row for image {key!r}"
    if key not in images:
        return f"no image {key!r} in the dataset"
    empty = [n for n, value in enumerate(fields[1:], start=1) if not value]
    if empty:
        return f"empty value in field {empty[0] + 1}"
    return None
