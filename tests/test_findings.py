"""The card's failures told by cause (report/findings.py): a reader gets the story in at most five lines."""

from __future__ import annotations

from typing import Any

from fairvision.report.findings import MAX_LINES, findings

PARTITIONS = {"race": {"attributes": ["race"]}, "age": {"attributes": ["age"]},
              "race × age": {"attributes": ["race", "age"]}}
BOTH = ["reference", "rest"]


def verdict(failing: dict[str, dict[str, dict[str, list[str]]]]) -> dict[str, Any]:
    return {"failing": {name: failing.get(name, {}) for name in PARTITIONS}}


def test_a_failing_group_comes_first_with_its_intersections_folded_under_it() -> None:
    lines = findings(verdict({
        "race": {"White": {"Female": ["rest"]}, "Latino_Hispanic": {"Female": BOTH, "correct": BOTH}},
        "race × age": {"Latino_Hispanic × 3-9": {"Female": BOTH}, "Latino_Hispanic × 20-29": {"correct": BOTH},
                       "White × 20-29": {"Female": ["rest"]}},
    }), PARTITIONS)
    assert [line.text for line in lines] == [
        "Latino_Hispanic (race) and 2 of its race × age groups fail against the reference group (in “Female” and "
        "“correct”)",
        "White (race), White × 20-29 (race × age) fail only against the rest: their rest includes Latino_Hispanic, "
        "which fails (in “Female”)",
    ]
    assert [line.kind for line in lines] == ["direct", "vs_rest_explained"]
    assert sum(len(line.covers) for line in lines) == 5  # every failing group is told, once


def test_an_intersection_fails_on_its_own_when_no_parent_does() -> None:
    (line,) = findings(verdict({"race × age": {"Black × 60-69": {"correct": ["reference"]}}}), PARTITIONS)
    assert line.kind == "direct"
    assert line.text == "Black × 60-69 (race × age) fails against the reference group (in “correct”)"


def test_a_vs_rest_failure_with_no_failing_group_in_its_rest_is_told_plainly() -> None:
    (line,) = findings(verdict({"age": {"0-2": {"correct": ["rest"]}}}), PARTITIONS)
    assert (line.kind, line.text) == ("vs_rest", "0-2 (age) fails only against the rest (in “correct”)")


def test_a_failure_outside_the_headline_outcome_names_its_outcome() -> None:
    """`target: race`: the headline outcome (the first class) fails nowhere; another class's one-vs-rest does."""
    (line,) = findings({"headline_outcome": "White", "failing": {"gender": {"Female": {"Black": ["reference"]}}}},
                       {"gender": {"attributes": ["gender"]}})
    assert line.text == "Female (gender) fails against the reference group (in “Black”)"


def test_more_causes_than_lines_end_with_a_count_of_the_rest() -> None:
    failing = {"race × age": {f"R{i} × A{i}": {"correct": ["reference"]} for i in range(8)}}
    lines = findings(verdict(failing), PARTITIONS)
    assert len(lines) == MAX_LINES
    assert lines[-1].text == "and 4 more failing groups (the tables below)"
    assert sum(len(line.covers) for line in lines) == 8


def test_nothing_failing_tells_nothing() -> None:
    assert findings(verdict({}), PARTITIONS) == []
    assert findings({"failing": None}, PARTITIONS) == []
