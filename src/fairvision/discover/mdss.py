"""AIF360's MDSS subset scan as a candidate generator: subsets with several values per attribute.

Labelled intersections name one value per attribute; a model may instead fail "ages 50+
of two races". AIF360's ``bias_scan`` (multi-dimensional subset scan) searches such subsets
for the one whose events most exceed their expectation. It runs on the explore half only,
and only proposes: its subsets are tested on the confirm half like any other candidate.

The scan is run on the explore half's finest cells, not its rows, with AIF360's Poisson
score: each cell's observation is its event count and its expectation its denominator times
the overall rate. The Poisson score of a subset, Y log q + (1 − q) Σ E, depends only on the
subset's sums, so the scan over cells is the scan over rows (Bernoulli's would need every
row), at a fraction of the cost. Several subsets are found by peeling: each scan is run again
without the cells of the subsets already found.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from fairvision.discover.cohorts import CellTable, Cohort


def mdss_cohorts(cells: CellTable, events_totals: np.ndarray, *, subsets: int, iterations: int,
                 penalty: float) -> list[Cohort]:
    """Up to ``subsets`` cohorts where events exceed the overall rate most, by AIF360's ``bias_scan``.

    ``events_totals``: ``(F, 2)`` per finest cell of ``cells``. A condition holding every
    value of its attribute is dropped (it restricts nothing); an empty subset ends the peeling.
    """
    if subsets <= 0 or not cells.attributes:
        return []
    from aif360.detectors.mdss_detector import bias_scan  # light (no TensorFlow), but only when scanning

    events, totals = events_totals[:, 0].astype(np.float64), events_totals[:, 1].astype(np.float64)
    if totals.sum() <= 0 or events.sum() <= 0:
        return []
    rate = events.sum() / totals.sum()
    everything = {a: set(cells.values[totals > 0, i]) for i, a in enumerate(cells.attributes)}
    left = totals > 0
    names, columns = zip(*(np.unique(cells.values[:, i], return_inverse=True) for i in range(len(cells.attributes))))
    codes = np.stack(columns, axis=1)
    found: list[Cohort] = []
    for _ in range(subsets):
        if left.sum() < 2:
            break
        # Integer codes, not strings: pandas' string columns make the scan's many small selections 2-3x slower.
        data = pd.DataFrame(codes[left], columns=list(cells.attributes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            subset, score = bias_scan(data, pd.Series(events[left]), pd.Series(totals[left] * rate),
                                      favorable_value="high", overpredicted=False, scoring="Poisson",
                                      mode="ordinal", num_iters=iterations, penalty=penalty)
        conditions = tuple((a, tuple(sorted(str(names[i][v]) for v in subset[a])))
                           for i, a in enumerate(cells.attributes)
                           if a in subset and {names[i][v] for v in subset[a]} != everything[a])
        if not conditions or score <= 0:
            break
        cohort = Cohort(conditions)
        found.append(cohort)
        left &= ~cohort.covers(cells)
    return found
