"""SliceLine, DivExplorer and Error Analysis, run as their users run them, for the validation's side-by-side (not a dependency).

Each searches the whole evaluation table for slices with a higher error rate and ranks what
it finds; none splits, tests against a complement with an exact test, or controls false
discoveries. Each returns its ranked slices as ``Cohort``s so the validation can
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
* Error Analysis (Responsible AI Toolbox's ``erroranalysis``, the tree view of its dashboard)
  fits a surrogate tree on the error flags: one LightGBM tree over the attributes as
  categoricals, at the package's defaults (max_depth 3, num_leaves 31, min_child_samples 20),
  through ``PredictionsAnalyzer.compute_error_tree``, the call the dashboard's back end makes.
  Its report is every leaf whose error rate is above the root's (the overall rate): the
  leaves the dashboard colours red (``TreeViewRenderer.tsx``: a node above the root's rate
  × ``errorRatioThreshold`` = 1 is shaded from pale to dark red by its rate, any other node
  grey), ranked by error rate, then size. A leaf is the conjunction of the splits on its path, each
  ``attribute in {values}`` (a right branch is the split's complement), as one ``Cohort``
  condition per attribute. The pinned release, 0.4.2 (docs/discovery.md, "Anchors"), indexes
  a DataFrame with a set in ``filter_to_used_features``, which pandas ≥ 2 refuses; the
  wrapper swaps in the list-indexing line that 0.4.3 shipped (upstream PR #2019) while the
  tree is computed, and changes nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings
from typing import Any, Sequence
from unittest import mock

import numpy as np
import pandas as pd

from fairvision.discover.cohorts import Cohort

DIVEXPLORER_SUPPORT = 0.005
DIVEXPLORER_T = 2.0
# Error Analysis's own defaults (erroranalysis._internal.surrogate_error_tree.DEFAULT_*).
ERROR_ANALYSIS_MAX_DEPTH = 3
ERROR_ANALYSIS_NUM_LEAVES = 31
ERROR_ANALYSIS_MIN_CHILD_SAMPLES = 20
PACKAGES = ("sliceline", "divexplorer", "erroranalysis")


def available() -> dict[str, str | None]:
    """Each anchor's version, or None where it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in PACKAGES:
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


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One leaf of Error Analysis's tree: its cohort and the package's own counts (rows, errors).

    ``errors`` is the node's ``metricValue`` (its error rate) × ``size``, rounded: the node's
    ``error`` field is that product cut to an int, one short when the float falls just under.
    """

    cohort: Cohort
    size: int
    errors: int


def error_analysis(frame: pd.DataFrame, attributes: Sequence[str], errors: np.ndarray, *, k: int | None = None,
                   max_depth: int = ERROR_ANALYSIS_MAX_DEPTH, num_leaves: int = ERROR_ANALYSIS_NUM_LEAVES,
                   min_child_samples: int = ERROR_ANALYSIS_MIN_CHILD_SAMPLES) -> list[Cohort]:
    """Error Analysis's leaves with an error rate above the overall, by error rate then size (its top ``k`` when given)."""
    nodes, categories = error_tree(frame, attributes, errors, max_depth=max_depth, num_leaves=num_leaves,
                                   min_child_samples=min_child_samples)
    cohorts = [leaf.cohort for leaf in reported(leaves(nodes, attributes, categories))]
    return cohorts[:k] if k is not None else cohorts


def error_tree(frame: pd.DataFrame, attributes: Sequence[str], errors: np.ndarray, *,
               max_depth: int = ERROR_ANALYSIS_MAX_DEPTH, num_leaves: int = ERROR_ANALYSIS_NUM_LEAVES,
               min_child_samples: int = ERROR_ANALYSIS_MIN_CHILD_SAMPLES,
               ) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The package's tree (its list of node dicts) over ``attributes`` as categoricals, and each attribute's categories.

    The analyzer gets the error flags as predictions against an all-zero truth: the surrogate
    is fitted on ``pred != true``, which is the flags themselves.
    """
    from erroranalysis._internal import surrogate_error_tree
    from erroranalysis.analyzer import PredictionsAnalyzer

    data = frame[list(attributes)].astype(str).reset_index(drop=True)
    flags = np.asarray(errors, dtype=int)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            mock.patch.object(surrogate_error_tree, "filter_to_used_features", _filter_to_used_features):
        warnings.simplefilter("ignore")  # LightGBM's notes on a one-tree fit, printed or warned
        analyzer = PredictionsAnalyzer(flags, data, np.zeros(len(flags), dtype=int), list(attributes),
                                       list(attributes), model_task="classification")
        nodes = analyzer.compute_error_tree(list(attributes), None, None, max_depth=max_depth,
                                            num_leaves=num_leaves, min_child_samples=min_child_samples)
    return nodes, {a: [str(v) for v in values] for a, values in zip(attributes, analyzer.categories)}


def _filter_to_used_features(df: pd.DataFrame, tree: dict[str, Any]) -> pd.DataFrame:
    """``surrogate_error_tree.filter_to_used_features`` as erroranalysis 0.4.3 has it: a list, not a set, of columns."""
    from erroranalysis._internal.constants import DIFF, PRED_Y, TRUE_Y
    from erroranalysis._internal.surrogate_error_tree import CACHED_SUBTREE_FEATURES

    return df[list(tree[CACHED_SUBTREE_FEATURES].union({PRED_Y, TRUE_Y, DIFF}))]


def leaves(nodes: Sequence[dict[str, Any]], attributes: Sequence[str],
           categories: dict[str, Sequence[str]]) -> list[Leaf]:
    """The tree's leaves as cohorts, in the package's node order: each split on the path narrows its attribute's values.

    A node's ``method`` is ``includes`` (left branch: the categories listed by index in
    ``arg``) or ``excludes`` (right branch: all the others) of its parent's split attribute
    (``parentNodeName``); an attribute left with all its values is no condition.

    Raises:
        ValueError: a split that is not categorical (the attributes are all passed as categoricals).
    """
    by_id = {node["id"]: node for node in nodes}
    parents = {node["parentId"] for node in nodes if node["parentId"] is not None}
    found = []
    for node in nodes:
        if node["id"] in parents:
            continue
        allowed = {a: set(categories[a]) for a in attributes}
        step = node
        while step["parentId"] is not None:
            attribute, method = step["parentNodeName"], step["method"]
            if method not in ("includes", "excludes"):
                raise ValueError(f"Error Analysis split {attribute!r} by {method!r}; only categorical splits "
                                 "(includes/excludes) map to cohorts")
            named = {categories[attribute][int(i)] for i in step["arg"]}
            allowed[attribute] = allowed[attribute] & named if method == "includes" else allowed[attribute] - named
            step = by_id[step["parentId"]]
        conditions = tuple((a, tuple(sorted(allowed[a]))) for a in attributes
                           if allowed[a] != set(categories[a]))
        size = int(node["size"])
        found.append(Leaf(Cohort(conditions), size, int(round(node["metricValue"] * size))))
    return found


def reported(found: Sequence[Leaf]) -> list[Leaf]:
    """The leaves above the overall error rate (the dashboard's red ones), by error rate then size, best first."""
    size, errors = sum(leaf.size for leaf in found), sum(leaf.errors for leaf in found)
    above = [leaf for leaf in found if leaf.size and leaf.errors * size > errors * leaf.size]
    return sorted(above, key=lambda leaf: (-leaf.errors / leaf.size, -leaf.size, leaf.cohort))
