"""The one-sided exact test of "this cohort's rate is higher than the rest's": Fisher's, vectorised.

Chosen over the alternatives for error control first:

* **Fisher's exact test** conditions on the total number of events: under "no higher rate",
  the cohort's events are hypergeometric, so the p-value is exact at any size, 0 events
  included, and never below its level (discreteness makes it conservative, which the
  validation measures: docs/discovery.md). One ``hypergeom.sf`` call tests every candidate.
* A z or Welch test (what DivExplorer uses) is anti-conservative exactly where discovery
  lives: small cohorts with few errors.
* Barnard's and Boschloo's unconditional tests are more powerful but maximise over a
  nuisance parameter: seconds per candidate at the sizes of an evaluation set.
* A stratified bootstrap (the audit's) cannot resample an event it never saw, and the tails
  that Benjamini–Hochberg reads (p ≈ q / m ≈ 0.002) need tens of thousands of replicates.

The same test judges an intersection against the rest of its parent (``lineage``).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom


def greater_p_values(events: np.ndarray, totals: np.ndarray, all_events: np.ndarray,
                     all_totals: np.ndarray) -> np.ndarray:
    """P(X ≥ events) for X the cohort's events if its ``totals`` were drawn at random from ``all_totals``.

    ``events``/``totals``: the cohort's; ``all_*``: the cohort's plus the comparison side's
    (the complement, or the parent). 1 where the cohort or the rest is empty (nothing to test).
    """
    events, totals = np.asarray(events, dtype=np.int64), np.asarray(totals, dtype=np.int64)
    all_events, all_totals = np.asarray(all_events, dtype=np.int64), np.asarray(all_totals, dtype=np.int64)
    testable = (totals > 0) & (all_totals > totals)
    p = np.ones(np.broadcast(events, totals, all_events, all_totals).shape)
    if testable.any():
        b = np.broadcast_arrays(events, totals, all_events, all_totals)
        x, n, k, total = (a[testable] for a in b)
        p[testable] = np.clip(hypergeom.sf(x - 1, total, k, n), 0.0, 1.0)
    return p
