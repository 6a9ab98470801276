"""Why a card fails, in a few lines: the failing groups by cause, for the summary box and the index.

An audit judges every group of every partition in every outcome twice (against the reference group and against
the rest), so one real disparity fails many comparisons: the group itself; its intersections, which inherit it;
and groups that fail only against a "rest" holding the failing group, whose rest is dragged down by it. Listing
them flat (as the failing tables do) buries the cause. The story told here, in order:

1. groups failing against the reference group (the direct findings), single attributes first, each with the
   intersections that contain it folded under it ("Latino_Hispanic and 5 of its race × age groups");
2. other groups failing there (intersections whose parent does not fail, or an outcome other than the headline);
3. groups failing only against the rest, labelled with the failing groups their rest contains ("White vs rest:
   the rest includes Latino_Hispanic, which fails");
4. the rest, plainly.

Each line names the outcomes it fails in, so a card whose headline outcome has no failing group still says which
outcome and comparison fail (with `target: race`, a class's one-vs-rest outcome).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

MAX_LINES = 5
SEPARATOR = " × "  # how an intersection's group names its parts (partitions.py)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the story: its text, the kind of cause, and the (partition, group) pairs it covers."""

    kind: str  # "direct", "vs_rest_explained", "vs_rest"
    text: str
    covers: tuple[tuple[str, str], ...]


def findings(verdict: Mapping[str, Any], partitions: Mapping[str, Mapping[str, Any]],
             max_lines: int = MAX_LINES) -> list[Finding]:
    """The card's failures by cause, at most ``max_lines`` lines (the last one counting what is left out).

    Args:
        verdict: the card's ``verdict`` (``failing``: partition -> group -> outcome -> ["reference", "rest"]).
        partitions: the card's ``quantitative_analyses.partitions`` (each one's ``attributes``).
    """
    failing: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]] = verdict.get("failing") or {}
    attributes = {name: tuple(entry["attributes"]) for name, entry in partitions.items()}
    direct = {(partition, group): _outcomes(tables, "reference")
              for partition, groups in failing.items() for group, tables in groups.items()
              if _outcomes(tables, "reference")}
    lines: list[Finding] = []
    root: dict[tuple[str, str], str] = {}  # each direct finding -> the group of the line it is told in
    for partition, group in [key for key in direct if len(attributes.get(key[0], ())) == 1]:
        (attribute,) = attributes[partition]
        children = [key for key in direct if key not in root and _contains(key, attribute, group, attributes)]
        root.update({(partition, group): group, **dict.fromkeys(children, group)})
        lines.append(_direct_line(partition, group, direct[(partition, group)], children))
    for key in direct:
        if key not in root:
            root[key] = key[1]
            lines.append(_direct_line(*key, direct[key], []))
    by_cause: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for partition, groups in failing.items():
        for group in groups:
            if (partition, group) not in root:
                causes = tuple(dict.fromkeys(name for (where, other), name in root.items()
                                             if where == partition and other != group))
                by_cause.setdefault(causes, []).append((partition, group))
    for causes, keys in by_cause.items():
        outcomes = list(dict.fromkeys(outcome for partition, group in keys
                                      for outcome in _outcomes(failing[partition][group], "rest")))
        plural = len(keys) > 1
        because = (f": {'their' if plural else 'its'} rest includes {_names(list(causes))}, which "
                   f"{'fail' if len(causes) > 1 else 'fails'}") if causes else ""
        lines.append(Finding("vs_rest_explained" if causes else "vs_rest",
                             f"{_grouped(keys)} {'fail' if plural else 'fails'} only against the rest{because} "
                             f"({_in(outcomes)})", tuple(keys)))
    if len(lines) > max_lines:
        left = lines[max_lines - 1:]
        groups = sum(len(line.covers) for line in left)
        lines = [*lines[:max_lines - 1],
                 Finding("more", f"and {groups} more failing group{'s' if groups > 1 else ''} (the tables below)",
                         tuple(key for line in left for key in line.covers))]
    return lines


def _outcomes(tables: Mapping[str, Sequence[str]], against: str) -> list[str]:
    return [outcome for outcome, comparisons in tables.items() if against in comparisons]


def _contains(key: tuple[str, str], attribute: str, group: str, attributes: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether ``key`` is an intersection cell whose ``attribute`` part is ``group``."""
    partition, cell = key
    parts = attributes.get(partition, ())
    if len(parts) < 2 or attribute not in parts:
        return False
    values = cell.split(SEPARATOR)
    return len(values) == len(parts) and values[parts.index(attribute)] == group


def _direct_line(partition: str, group: str, outcomes: list[str], children: list[tuple[str, str]]) -> Finding:
    by_partition: dict[str, int] = {}
    for child_partition, _ in children:
        by_partition[child_partition] = by_partition.get(child_partition, 0) + 1
    folded = "".join(f" and {n} of its {name} group{'s' if n > 1 else ''}" for name, n in by_partition.items())
    verb = "fail" if children else "fails"
    return Finding("direct", f"{group} ({partition}){folded} {verb} against the reference group ({_in(outcomes)})",
                   ((partition, group), *children))


def _grouped(keys: list[tuple[str, str]]) -> str:
    """Groups named under their partition: "White and Black (race), White × 20-29 (race × age)"; a partition of
    more than three listed by count."""
    by_partition: dict[str, list[str]] = {}
    for partition, group in keys:
        by_partition.setdefault(partition, []).append(group)
    return ", ".join(f"{_names(groups)} ({partition})" if len(groups) <= 3 else f"{len(groups)} {partition} groups"
                     for partition, groups in by_partition.items())


def _in(outcomes: list[str]) -> str:
    return f"in {_names([f'“{outcome}”' for outcome in outcomes])}"


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
