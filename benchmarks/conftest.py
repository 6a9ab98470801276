"""Benchmarks: each speed goal sits next to the baseline it must beat, measured in the same run."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
