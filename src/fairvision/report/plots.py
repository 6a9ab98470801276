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

from fairvision.report.fmt import NOT_AVAILABLE, pct

# status -> (colour, hatch, legend label); the same palette as the page's badges.
STATUS_STYLE = {
    "privileged": ("#2f5d8a", "", "privileged (reference)"),
    "ok": ("#4f9d69", "", "ok"),
    "flagged": ("#c62828", "", "FLAGGED"),
    "too_small": ("#bdbdbd", "///", "too small to judge"),
}
_NO_METADATA = dict.fromkeys(("Creator", "Date", "Format", "Type"), None)  # no version, date or URL in the SVG
# Namespace declarations are URLs; an SVG inlined in HTML5 needs none of them, nor the XML prolog.
_XML_NAMESPACES = (' xmlns="http://www.w3.org/2000/svg"', ' xmlns:xlink="http://www.w3.org/1999/xlink"')
# matplotlib numbers its groups per figure (figure_1, axes_1, ...): never referenced, but they would repeat
# across the charts of one page. The ids that are referenced (clip paths, markers, hatches) are salted hashes.
_COUNTER_ID = re.compile(r' id="[A-Za-z0-9.]+_[0-9]+"')


def accuracy_chart(analysis: Mapping[str, Any], overall_accuracy: float | None, chart_id: str) -> str:
    """Bars of per-group accuracy coloured by status (see STATUS_STYLE), overall accuracy as a dashed line."""
    groups = analysis["groups"]
    with _style(chart_id):
        figure = Figure(figsize=(max(4.5, 1.2 * len(groups) + 1.5), 3.2))
        axes = figure.add_subplot()
        for x, (name, row) in enumerate(groups.items()):
            colour, hatch, _ = STATUS_STYLE[row["status"]]
            accuracy = 0.0 if row["accuracy"] is None else row["accuracy"]
            privileged = row["status"] == "privileged"
            axes.bar(x, accuracy, color=colour, hatch=hatch, edgecolor="#222222" if privileged else "#666666",
                     linewidth=1.6 if privileged else 0.6)
            axes.annotate(pct(row["accuracy"]), (x, accuracy), xytext=(0, 2), textcoords="offset points",
                          ha="center", va="bottom", fontsize=8,
                          bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})
        axes.set_xticks(range(len(groups)), [_tick_label(name, row) for name, row in groups.items()])
        handles = [Patch(facecolor=STATUS_STYLE[s][0], hatch=STATUS_STYLE[s][1], edgecolor="#666666",
                         label=STATUS_STYLE[s][2])
                   for s in STATUS_STYLE if any(row["status"] == s for row in groups.values())]
        if overall_accuracy is not None:
            axes.axhline(overall_accuracy, color="#222222", linestyle="--", linewidth=1)
            handles.append(Line2D([], [], color="#222222", linestyle="--", label=f"overall {pct(overall_accuracy)}"))
        axes.set_ylim(0, 1.1)
        axes.set_ylabel("accuracy")
        _tidy(axes)
        axes.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles),
                    frameon=False, fontsize=8)
        return _svg(figure)


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


def _tick_label(name: str, row: Mapping[str, Any]) -> str:
    note = "\n(privileged)" if row["status"] == "privileged" else ""
    return f"{_wrap(name)}\nn={NOT_AVAILABLE if row['n'] is None else row['n']}{note}"


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
