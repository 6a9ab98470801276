"""Detection power of the audit's verdicts versus group size and true gap: the table in docs/ and the README.

Simulates prediction tables (two groups of equal size, the reference's error rate 0.10, the
other's 0.10 + gap), audits each with ``audit_table`` as `fairvision audit` does
(stratified resamples sized to the table's family, at least 1,000; 95 % simultaneous
intervals over its 14 metrics; tolerance 0.1), and counts how often the error-rate
difference is judged `fail`, `pass` or `inconclusive`.

    .venv/bin/python scripts/detection_power.py [--runs 100] [--out docs/detection-power.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fairvision.audit.engine import Settings
from fairvision.audit.measures import COMPARISONS
from fairvision.audit.simulate import simulated_verdicts
from fairvision.audit.verdicts import Band
from fairvision.files import write_text

SIZES = (100, 300, 1000, 3000)
GAPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
BASE_ERROR = 0.1
METRIC = "error_rate_difference"


def table(runs: int, method: str) -> str:
    settings = Settings(
        min_group_size=50, resamples=1000, seed=0, level=0.95, multiple_comparisons=method,  # type: ignore[arg-type]
        bands={n: Band(-0.1, 0.1) if c.kind == "difference" else Band(0.8, 1.25) for n, c in COMPARISONS.items()},
    )
    lines = [
        f"Share of {runs} simulated audits judging the error-rate difference `fail` / `pass` "
        f"(the rest: `inconclusive`); tolerance 0.1, reference error rate {BASE_ERROR}, "
        f"`multiple_comparisons: {method}`.",
        "",
        "| images per group | " + " | ".join(f"gap {gap:.2f}" for gap in GAPS) + " |",
        "|---:|" + "---:|" * len(GAPS),
    ]
    for size in SIZES:
        cells = []
        for gap in GAPS:
            tally = simulated_verdicts({"A": size, "B": size}, {"A": BASE_ERROR, "B": BASE_ERROR + gap}, settings,
                                       runs=runs, seed=size)
            cells.append(f"{tally['B', METRIC, 'fail'] / runs:.0%} / {tally['B', METRIC, 'pass'] / runs:.0%}")
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="simulated audits per cell (default: %(default)s)")
    parser.add_argument("--method", default="simultaneous", choices=("simultaneous", "bonferroni", "none"))
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    text = "# Detection power of the audit's verdicts\n\n" + table(args.runs, args.method)
    print(text)
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
