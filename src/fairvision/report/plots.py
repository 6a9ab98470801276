"""Charts as inline SVG strings, so a report page is one self-contained, diffable file.

Figures are built with matplotlib's object API (no pyplot), which never selects a GUI
backend nor keeps global figure state. SVG ids are hashed with a per-chart salt: they
are stable across runs and still unique when several charts share one HTML page.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from typing import Any, Iterator, Mapping, Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from fairvision.audit.vocabulary import STATUSES
from fairvision.report.fmt import NOT_AVAILABLE, pct

# status -> (colour, hatch, label); the same palette and words as the page's badges.
STATUS_STYLE = {
    "reference": ("#2f5d8a", "", "reference"),
    "pass": ("#4f9d69", "", "pass"),
    "fail": ("#c62828", "", "FAIL"),
    "inconclusive": ("#d08c00", "", "inconclusive"),
    "insufficient_data": ("#8c959f", "///", "insufficient data"),
}
assert tuple(STATUS_STYLE) == STATUSES, "one style per status of the audit's vocabulary"
WIDE = 12  # beyond this many groups (an intersection), bars narrow and labels turn vertical
_NO_METADATA = dict.fromkeys(("Creator", "Date", "Format", "Type"), None)  # no version, date or URL in the SVG
# Namespace declarations are URLs; an SVG inlined in HTML5 needs none of them, nor the XML prolog.
_XML_NAMESPACES = (' xmlns="http://www.w3.org/2000/svg"', ' xmlns:xlink="http://www.w3.org/1999/xlink"')
# matplotlib numbers its groups per figure (figure_1, axes_1, ...): never referenced, but they would repeat
# across the charts of one page. The ids that are referenced (clip paths, markers, hatches) are salted hashes.
_COUNTER_ID = re.compile(r' id="[A-Za-z0-9.]+_[0-9]+"')


def accuracy_chart(groups: Mapping[str, Mapping[str, Any]], overall_accuracy: float | None, chart_id: str) -> str:
    """Bars of per-group accuracy with its interval, coloured by status vs the reference (see STATUS_STYLE).

    ``groups`` are the card's rows of one table (``n``, ``status``, ``rates``); overall accuracy
    is a dashed line. The interval whiskers show which gaps the data can and cannot resolve.
    """
    wide = len(groups) > WIDE
    with _style(chart_id):
        figure = Figure(figsize=(max(4.5, (0.32 if wide else 1.2) * len(groups) + 1.5), 4.2 if wide else 3.2))
        axes = figure.add_subplot()
        for x, row in enumerate(groups.values()):
            _bar(axes, x, row, annotate=not wide)
        labels = [_tick_label(name, row, wrap=not wide) for name, row in groups.items()]
        axes.set_xticks(range(len(groups)), labels, rotation=90 if wide else 0, fontsize=7 if wide else None)
        statuses = {row["status"]["reference"] for row in groups.values()}
        handles = [Patch(facecolor=colour, hatch=hatch, edgecolor="#666666", label=label)
                   for status, (colour, hatch, label) in STATUS_STYLE.items() if status in statuses]
        if overall_accuracy is not None:
            axes.axhline(overall_accuracy, color="#222222", linestyle="--", linewidth=1)
            handles.append(Line2D([], [], color="#222222", linestyle="--", label=f"overall {pct(overall_accuracy)}"))
        axes.set_ylim(0, 1.1)
        axes.set_ylabel("accuracy")
        _tidy(axes)
        axes.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
                    frameon=False, fontsize=8)
        return _svg(figure)


def _bar(axes: Axes, x: int, row: Mapping[str, Any], *, annotate: bool) -> None:
    """One group's bar, outlined when it is the reference, with its interval as a whisker."""
    status = row["status"]["reference"]
    colour, hatch, _ = STATUS_STYLE[status]
    estimate = row["rates"]["accuracy"]
    accuracy = 0.0 if estimate["value"] is None else estimate["value"]
    reference = status == "reference"
    axes.bar(x, accuracy, color=colour, hatch=hatch, edgecolor="#222222" if reference else "#666666",
             linewidth=1.6 if reference else 0.6)
    low, high = estimate["ci"]
    if estimate["value"] is not None and low is not None and high is not None:
        axes.errorbar(x, accuracy, yerr=[[accuracy - low], [high - accuracy]], color="#222222", linewidth=0.8,
                      capsize=2)
    if annotate:
        axes.annotate(pct(estimate["value"]), (x, accuracy), xytext=(6, 2), textcoords="offset points",
                      ha="left", va="bottom", fontsize=8,
                      bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})


def training_chart(history: Sequence[Mapping[str, float | None]], chart_id: str) -> str:
    """Loss and accuracy per epoch, train vs validation, to spot over- or under-fitting at a glance."""
    epochs = [row["epoch"] for row in history]
    with _style(chart_id):
        figure = Figure(figsize=(6.5, 2.4))
        for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
            for prefix, label in (("", "train"), ("val_", "validation")):
                values = [math.nan if row[prefix + metric] is None else row[prefix + metric] for row in history]
                axes.plot(epochs, values, marker="o", markersize=3, label=label)
            axes.set_xlabel("epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylabel(metric)
            _tidy(axes)
            axes.legend(frameon=False, fontsize=8)
        return _svg(figure)


def _tick_label(name: str, row: Mapping[str, Any], *, wrap: bool) -> str:
    note = "\n(reference)" if row["status"]["reference"] == "reference" else ""
    n = NOT_AVAILABLE if row["n"] is None else row["n"]
    return f"{_wrap(name)}\nn={n}{note}" if wrap else f"{name} (n={n})"


def _wrap(name: str, width: int = 12) -> str:
    """Break a group name at spaces and after underscores (Latino_Hispanic) so neighbouring labels never overlap."""
    lines, line = [], ""
    for token in re.findall(r"[^ _]+[ _]?|[ _]", name):
        if line and len(line + token.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += token
    return "\n".join([*lines, line.rstrip()])


def _tidy(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)


@contextlib.contextmanager
def _style(chart_id: str) -> Iterator[None]:
    """Scoped rcParams: text stays text (small, searchable), ids are salted by chart, nothing leaks globally."""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"fairvision:{chart_id}", "font.size": 9}):
        yield


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    for declaration in _XML_NAMESPACES:
        svg = svg.replace(declaration, "", 1)
    return _COUNTER_ID.sub("", svg)
