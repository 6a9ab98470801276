"""The side-by-side's anchors: Error Analysis's tree read as cohorts, and the study's choice of anchor runs.

The anchor packages are not in requirements.lock (docs/discovery.md, "Anchors"). What maps a
package's output to cohorts is tested on a tree Error Analysis produced (recorded below), so
it runs everywhere; the tests that fit a tree skip where ``erroranalysis`` is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from fairvision.audit.measures import COMPARISONS
from fairvision.audit.verdicts import Band
from fairvision.discover import Cohort, Settings, anchors
from fairvision.discover.simulate import ATTRIBUTES, PLANTS, Plant
from fairvision.discover.validation import ANCHOR_RUNS, anchor_runs, run_once

CATEGORIES = {
    "race": ["Black", "East Asian", "Indian", "Latino_Hispanic", "Middle Eastern", "Southeast Asian", "White"],
    "gender": ["Female", "Male"],
    "age": ["0-2", "10-19", "20-29", "3-9", "30-39", "40-49", "50-59", "60-69", "more than 70"],
    "service_test": ["False", "True"],
}
# erroranalysis 0.4.2's compute_error_tree at its defaults on Plant(PLANTS["10%"], 0.2).draw(20_000, (1, 3)):
# (id, parentId, parentNodeName, method, arg, size, error, metricValue), in the package's order.
RECORDED = [
    (0, None, None, None, None, 20000, 3442, 0.1721),
    (1, 0, "age", "includes", [4.0], 4340, 1036, 0.23870967741935484),
    (2, 1, "gender", "includes", [0.0], 2214, 318, 0.14363143631436315),
    (7, 2, "race", "includes", [1.0, 4.0, 5.0], 930, 158, 0.16989247311827957),
    (10, 2, "race", "excludes", [1.0, 4.0, 5.0], 1284, 160, 0.12461059190031153),
    (6, 1, "gender", "excludes", [0.0], 2126, 718, 0.3377234242709313),
    (9, 6, "service_test", "includes", [1.0], 1105, 381, 0.34479638009049773),
    (14, 6, "service_test", "excludes", [1.0], 1021, 337, 0.33006856023506365),
    (3, 0, "age", "excludes", [4.0], 15660, 2406, 0.153639846743295),
    (5, 3, "race", "includes", [1.0, 5.0], 4510, 643, 0.1425720620842572),
    (8, 5, "age", "includes", [5.0, 7.0, 8.0], 931, 149, 0.16004296455424274),
    (13, 5, "age", "excludes", [5.0, 7.0, 8.0], 3579, 493, 0.13802738195026543),
    (4, 3, "race", "excludes", [1.0, 5.0], 11150, 1763, 0.15811659192825112),
    (11, 4, "age", "includes", [0.0, 2.0, 5.0, 8.0], 6349, 1047, 0.16490785950543393),
    (12, 4, "age", "excludes", [0.0, 2.0, 5.0, 8.0], 4801, 716, 0.14913559675067695),
]
FIELDS = ("id", "parentId", "parentNodeName", "method", "arg", "size", "error", "metricValue")


def recorded_nodes() -> list[dict]:
    return [dict(zip(FIELDS, row)) for row in RECORDED]


def test_leaves_are_the_conjunction_of_their_paths() -> None:
    found = {leaf.cohort: leaf for leaf in anchors.leaves(recorded_nodes(), ATTRIBUTES, CATEGORIES)}
    assert len(found) == 8 and sum(leaf.size for leaf in found.values()) == 20000
    # Right branches are complements; two splits on age along one path intersect.
    leaf_13 = Cohort.of(ATTRIBUTES, race=["East Asian", "Southeast Asian"],
                        age=["0-2", "10-19", "20-29", "3-9", "50-59"])
    assert found[leaf_13].size == 3579
    assert found[leaf_13].errors == 494  # metricValue × size; the node's `error` field truncates it to 493
    assert Cohort.of(ATTRIBUTES, gender="Male", age="30-39", service_test="False") in found
    # An attribute the path never narrows is no condition; one narrowed to all but some values keeps the rest.
    assert Cohort.of(ATTRIBUTES, race=["Black", "Indian", "Latino_Hispanic", "Middle Eastern", "White"],
                     age=["10-19", "3-9", "50-59", "60-69"]) in found


def test_the_report_is_the_leaves_above_the_overall_rate_by_rate() -> None:
    report = anchors.reported(anchors.leaves(recorded_nodes(), ATTRIBUTES, CATEGORIES))
    assert [leaf.cohort for leaf in report] == [
        Cohort.of(ATTRIBUTES, gender="Male", age="30-39", service_test="True"),  # 34.5 %
        Cohort.of(ATTRIBUTES, gender="Male", age="30-39", service_test="False"),  # 33.0 %
    ]  # every other leaf is at or below 3442 / 20000 = 17.2 % (leaf 7: 17.0 %)
    assert all(leaf.errors / leaf.size > 0.1721 for leaf in report)


def test_a_tree_without_splits_reports_nothing() -> None:
    root = [dict(zip(FIELDS, (0, None, None, None, None, 2000, 300, 0.15)))]
    found = anchors.leaves(root, ATTRIBUTES, CATEGORIES)
    assert [leaf.cohort for leaf in found] == [Cohort(())]
    assert anchors.reported(found) == []


def test_a_numeric_split_is_refused() -> None:
    nodes = recorded_nodes()[:2] + [dict(zip(FIELDS, (3, 0, "age", "greater", 4.0, 15660, 2406, 0.1536)))]
    with pytest.raises(ValueError, match="only categorical splits"):
        anchors.leaves(nodes, ATTRIBUTES, CATEGORIES)


def test_available_names_every_anchor_package() -> None:
    assert set(anchors.available()) == {"sliceline", "divexplorer", "erroranalysis"}
    assert {package for package, _ in ANCHOR_RUNS.values()} == set(anchors.PACKAGES)


def test_the_study_runs_the_anchors_that_are_installed() -> None:
    assert anchor_runs({"sliceline": "0.3.0", "divexplorer": None, "erroranalysis": "0.4.2"}) == (
        "sliceline_default", "sliceline_small", "erroranalysis_default")
    assert anchor_runs({"sliceline": None, "divexplorer": None, "erroranalysis": None}) == ()


# --- With the package (skipped where erroranalysis is not installed) -------------------------------------------


def test_the_packages_leaf_counts_are_the_cohorts_counts_on_the_table() -> None:
    pytest.importorskip("erroranalysis")
    plant = Plant(PLANTS["10%"], 0.2)
    table = plant.draw(20_000, (1, 3))
    errors = (table["label"] != table["pred"]).to_numpy()
    nodes, categories = anchors.error_tree(table, ATTRIBUTES, errors)
    assert categories == CATEGORIES
    assert [tuple(n[f] for f in FIELDS) for n in nodes] == [
        (i, p, name, m, a, pytest.approx(s), e, pytest.approx(v)) for i, p, name, m, a, s, e, v in RECORDED]
    found = anchors.leaves(nodes, ATTRIBUTES, categories)
    covered = np.zeros(len(table), dtype=int)
    for leaf in found:
        inside = leaf.cohort.covers_rows(table)
        covered += inside
        assert (int(inside.sum()), int(errors[inside].sum())) == (leaf.size, leaf.errors), leaf.cohort.name
    assert (covered == 1).all()  # the leaves partition the table
    report = anchors.error_analysis(table, ATTRIBUTES, errors)
    assert report == [leaf.cohort for leaf in anchors.reported(found)]
    assert all(plant.true_gap(c) > 0 for c in report)  # a strong plant: its refinements lead
    assert anchors.error_analysis(table, ATTRIBUTES, errors, k=1) == report[:1]


def test_run_once_scores_error_analysis_like_the_other_anchors() -> None:
    pytest.importorskip("erroranalysis")
    bands = {name: Band(-0.1, 0.1) for name, c in COMPARISONS.items() if c.kind == "difference"}
    tally = run_once(Plant(None, 0.0), 2_000, (1, 0, 0, 0, 0, 0), Settings(bands=bands, mdss_subsets=0),
                     ("erroranalysis_default",))
    scored = tally["anchors"]["erroranalysis_default"]
    assert set(tally["anchors"]) == {"erroranalysis_default"}
    assert len(scored["false"]) == len(scored["plant"]) <= 8  # at most 2³ leaves at depth 3
    assert scored["plant"] == [0] * len(scored["plant"])  # the null has no plant to recall
    assert scored["false"] == [1] * len(scored["false"])  # and every report on it is false
