"""Import AIF360 without its warnings: one leaf module for whoever calls AIF360 (training's Reweighing,
the tests' reference computations), so none of them imports another stage's package to get it."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator


def _quiet_optional_extras(record: logging.LogRecord) -> bool:
    """AIF360 logs a root warning per optional extra (inFairness, ot) it lacks; we use neither."""
    return "will be unavailable" not in record.getMessage()


@contextlib.contextmanager
def quiet_aif360_import() -> Iterator[None]:
    """Import AIF360 modules inside this block without its warnings about optional extras."""
    root = logging.getLogger()
    root.addFilter(_quiet_optional_extras)
    try:
        yield
    finally:
        root.removeFilter(_quiet_optional_extras)
