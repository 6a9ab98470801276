"""Line backbones and splits up for the index page: the grids its side-by-side tables need.

Backbones may have been audited on different group sets (a group absent from one test
split), and splits may lack a group, so rows are the ordered union, first seen first,
with an explicit hole (None or 0) instead of a missing key the template would trip on.
"""

from __future__ import annotations

from typing import Any, Mapping

from fairvision.report.card import group_counts

Row = Mapping[str, Any]


def accuracy_grid(cards: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Row | None]]]:
    """Partition -> group -> backbone -> that card's headline row for the group (None where the backbone lacks it)."""
    grid: dict[str, dict[str, dict[str, Row | None]]] = {}
    for backbone, card in cards.items():
        analyses = card["quantitative_analyses"]
        for name, analysis in analyses["partitions"].items():
            for group, row in analysis["outcomes"][analyses["headline_outcome"]]["groups"].items():
                grid.setdefault(name, {}).setdefault(group, dict.fromkeys(cards))[backbone] = row
    return grid


def dataset_counts(datasheet: Mapping[str, Any]) -> dict[str, dict[str, dict[str, int]]]:
    """Protected attribute -> group -> split -> images (0 where a split lacks the group)."""
    splits = list(datasheet["counts"])
    per_split = {split: group_counts(datasheet, split) for split in splits}
    table: dict[str, dict[str, dict[str, int]]] = {attribute: {} for attribute in datasheet["protected"]}
    for attribute, groups in table.items():
        for split in splits:
            for group, count in per_split[split][attribute].items():
                groups.setdefault(group, dict.fromkeys(splits, 0))[split] = count["total"]
    return table
