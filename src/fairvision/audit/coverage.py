"""Which audited groups have too few test images to be judged, as sentences for the log and the card.

The audit decides this (it owns `audit.min_group_size` and the partitions it judges), so a new
threshold reruns the audit, never `prepare`, and the warning names exactly the groups the
tables leave unjudged, intersections included.
"""

from __future__ import annotations

from fairvision.audit.record import Fairness
from fairvision.groups import SEPARATOR


def small_group_warnings(fairness: Fairness) -> list[str]:
    """One sentence per group of every audited partition with fewer test images than ``min_group_size``.

    A group seen in training but absent from the test split is named with 0 images.
    """
    threshold = fairness.settings.min_group_size
    warnings = []
    for name, partition in fairness.partitions.items():
        sizes = next(iter(partition.outcomes.values())).groups
        for group in partition.groups:
            n = sizes[group].n if group in sizes else 0
            if n < threshold:
                warnings.append(f"test group {_named(partition.attributes, group)} has {n} images, fewer than "
                                f"audit.min_group_size ({threshold}): its metrics are reported but never judged")
    return warnings


def _named(attributes: tuple[str, ...], group: str) -> str:
    return " × ".join(f"{attribute} = {value}" for attribute, value in zip(attributes, group.split(SEPARATOR)))
