"""The audit in a few numbers (for `dvc exp show` and `dvc metrics diff`) and per-group bars (for `dvc plots`).

fairness.json holds every group, metric and interval; flattened into an experiments table it
would be thousands of columns. The headline keeps what a reader compares across runs: accuracy,
the overall verdict, how many group comparisons (against the reference and against the rest, in
every table) got each status, and per partition the worst accuracy gap
to the reference group (the "prediction correct" framing, where the selection rate is the
accuracy). The bars give, per partition, each group's accuracy and its gap, one CSV each.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from fairvision.audit.outcomes import CORRECT
from fairvision.audit.record import Fairness, PartitionAudit
from fairvision.audit.vocabulary import STATUSES

ACCURACY_RATE = "selection_rate"  # in the "correct" framing: the share predicted correctly
GAP_METRIC = "statistical_parity_difference"  # in the "correct" framing: accuracy minus the reference's


def headline(fairness: Fairness) -> dict[str, Any]:
    """Accuracy, verdict, how many comparisons got each status (the verdict's inputs), and the worst accuracy gap
    per partition."""
    statuses = Counter(status for partition in fairness.partitions.values() for table in partition.outcomes.values()
                       for group in table.groups.values() for status in group.status.values())
    return {
        "accuracy": fairness.accuracy,
        "verdict": fairness.verdict or "not_measured",
        "comparisons": {status: statuses.get(status, 0) for status in STATUSES if status != "reference"},
        "worst_accuracy_gap": {name: _worst_gap(partition) for name, partition in fairness.partitions.items()},
    }


def group_bars(fairness: Fairness) -> dict[str, list[dict[str, Any]]]:
    """File name -> rows ``{group, value}``: ``<partition>.accuracy.csv`` and ``<partition>.accuracy_gap.csv``."""
    bars = {}
    for name, partition in fairness.partitions.items():
        groups = partition.outcomes[CORRECT].groups
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name.replace(" × ", "_x_"))
        bars[f"{stem}.accuracy.csv"] = [{"group": group, "value": audit.rates[ACCURACY_RATE].value}
                                        for group, audit in groups.items()]
        bars[f"{stem}.accuracy_gap.csv"] = [
            {"group": group, "value": audit.comparisons["reference"][GAP_METRIC].estimate.value}
            for group, audit in groups.items() if GAP_METRIC in audit.comparisons.get("reference", {})]
    return bars


def _worst_gap(partition: PartitionAudit) -> float | None:
    """The judged group's accuracy gap furthest from 0, with its sign; None when no group was judged."""
    gaps = [audit.comparisons["reference"][GAP_METRIC].estimate.value
            for audit in partition.outcomes[CORRECT].groups.values()
            if audit.status.get("reference") in ("pass", "fail", "inconclusive")
            and GAP_METRIC in audit.comparisons.get("reference", {})]
    gaps = [gap for gap in gaps if gap is not None]
    return max(gaps, key=abs) if gaps else None
