"""Output tensors as JSON values: float32 at its shortest exact decimal, strings as text."""

from __future__ import annotations

from typing import Any

import numpy as np


def flat_values(array: np.ndarray) -> list[Any]:
    """The values of ``array`` in row-major order (KServe V2's `data`).

    A float32 becomes the shortest decimal that reads back as the same float32 (0.7310586, not
    0.7310585975646973), so a client's ``np.float32(value)`` equals the model's output exactly.
    """
    if array.dtype.kind == "f":
        return [float(str(value)) for value in array.astype(np.float32, copy=False).ravel()]
    if array.dtype.kind in "SO":
        return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in array.ravel()]
    return array.ravel().tolist()


def nested_values(array: np.ndarray) -> Any:
    """``array`` as nested lists of its shape (TensorFlow Serving's JSON), values as in ``flat_values``."""
    values = np.empty(array.size, dtype=object)
    values[:] = flat_values(array)
    return values.reshape(array.shape).tolist()
