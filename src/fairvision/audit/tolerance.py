"""Each comparison metric's tolerance band, from params.yaml `audit.tolerance`: where the metrics are known.

The params schema reads the bands by kind and the per-metric overrides without knowing the
metrics (it imports no stage); the audit resolves them here before any work, naming the key
of an unknown metric or of an override of the wrong shape.
"""

from __future__ import annotations

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.verdicts import Band
from fairvision.errors import FairvisionError
from fairvision.params import Tolerance


def bands(tolerance: Tolerance) -> dict[str, Band]:
    """Every metric of ``COMPARISONS`` -> its band: its override, else its kind's default."""
    key = "params.audit.tolerance.metrics"
    for name in tolerance.metrics:
        if name not in COMPARISONS:
            raise FairvisionError(f"{tolerance.source}: unknown metric `{key}.{name}`; known: {', '.join(COMPARISONS)}")
    resolved = {}
    for name, comparison in COMPARISONS.items():
        override = tolerance.metrics.get(name)
        if comparison.kind == "ratio":
            if override is not None and not isinstance(override, tuple):
                raise FairvisionError(f"{tolerance.source}: `{key}.{name}` must be a pair [low, high] with "
                                      f"0 <= low <= 1 <= high (a ratio), got {override!r}")
            resolved[name] = Band(*(override or tolerance.ratio))
        else:
            if isinstance(override, tuple):
                raise FairvisionError(f"{tolerance.source}: `{key}.{name}` must be a number in [0.0, 1.0] (a "
                                      f"difference within ±that passes), got {list(override)!r}")
            bound = tolerance.difference if override is None else override
            resolved[name] = Band(-bound or 0.0, bound)  # 0, not -0, for a zero tolerance
    return resolved
