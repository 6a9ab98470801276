"""SliceLine and DivExplorer, run as their users run them, for the validation's side-by-side (not a dependency).

Both search the whole evaluation table for slices with a higher error rate and rank what
they find; neither splits, tests against a complement with an exact test, or controls
false discoveries. Each returns its ranked slices as ``Cohort``s so the validation can
score them against the same truth as fairvision's. Imported only by the validation; the
packages are not in requirements.lock (docs/discovery.md gives their pins).

* SliceLine (``sliceline.Slicefinder``, Sagadeeva & Boehm 2021) at its defaults: alpha 0.6,
  max_l 4, min_sup 10, k 1. Its score trades error against size, and at alpha 0.6 no slice
  under about a fifth of the table scores above 0, so the validation also runs it tuned for
  small slices (alpha 0.99) with ``k`` slices (ranked by its score).
* DivExplorer (``divexplorer.DivergenceExplorer``, Pastor et al. 2021) has no default
  support: ``min_support`` 0.005 (half the smallest planted prevalence). Its report is every
  pattern whose error divergence is positive with t > 2, the t its authors read as
  significant, ranked by divergence.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from fairvision.discover.cohorts import Cohort

DIVEXPLORER_SUPPORT = 0.005
DIVEXPLORER_T = 2.0


def available() -> dict[str, str | None]:
    """Each anchor's version, or None where it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in ("sliceline", "divexplorer"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def sliceline(frame: pd.DataFrame, attributes: Sequence[str], errors: np.ndarray, k: int = 1,
              alpha: float = 0.6) -> list[Cohort]:
    """SliceLine's top-``k`` slices at ``alpha`` (its defaults otherwise), best first."""
    from sliceline.slicefinder import Slicefinder

    finder = Slicefinder(alpha=alpha, k=k, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder.fit(frame[list(attributes)].astype(str).to_numpy(dtype=object), np.asarray(errors, dtype=np.float64))
    slices = []
    for row in finder.top_slices_:
        slices.append(Cohort(tuple((a, (str(v),)) for a, v in zip(attributes, row) if v is not None)))
    return slices


def divexplorer(frame: pd.DataFrame, attributes: Sequence[str], errors: np.ndarray, *,
                min_support: float = DIVEXPLORER_SUPPORT, significant_only: bool = True) -> list[Cohort]:
    """DivExplorer's patterns with a positive error divergence (and t > 2 when ``significant_only``), by divergence."""
    from divexplorer import DivergenceExplorer

    data = frame[list(attributes)].astype(str).assign(error=np.asarray(errors, dtype=int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patterns = DivergenceExplorer(data).get_pattern_divergence(min_support=min_support,
                                                                  boolean_outcomes=["error"])
    patterns = patterns[patterns["error_div"] > 0]
    if significant_only:
        patterns = patterns[patterns["error_t"] > DIVEXPLORER_T]
    patterns = patterns.sort_values(["error_div", "support"], ascending=[False, False], kind="stable")
    cohorts = []
    for itemset in patterns["itemset"]:
        items = dict(item.split("=", 1) for item in itemset)
        cohorts.append(Cohort(tuple((a, (items[a],)) for a in attributes if a in items)))
    return cohorts
