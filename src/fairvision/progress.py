"""Progress bars for long loops: shown on a terminal, silent in logs and CI."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar that disables itself when stderr is not a terminal."""
    return tqdm(items, desc=description, total=total, disable=None, leave=False, unit="img")


def image_counter(description: str, total: int | None) -> tqdm:
    """A bar counted in images (``update(n)`` per batch), so its rate reads images/s; silent off a terminal."""
    return tqdm(desc=description, total=total, disable=None, leave=False, unit="img")
