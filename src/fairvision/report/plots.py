"""Charts as inline SVG strings, and pictures as data: URIs, so a report page is one self-contained file.

Figures are built with matplotlib's object API (no pyplot), which never selects a GUI
backend nor keeps global figure state. SVG ids are hashed with a per-chart salt: they
are stable across runs and still unique when several charts share one HTML page. The
SVG is trimmed after matplotlib writes it (coordinates to 0.01 pt, no indentation): a
page holds several charts, and their weight is what a reader downloads.
"""

from __future__ import annotations

import base64
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
from PIL import Image

from fairvision.audit.vocabulary import STATUSES
from fairvision.report.fmt import NOT_AVAILABLE, pct

# status -> (colour, hatch, label); the same palette and words as the page's badges. Fail and insufficient data
# are hatched too, so a greyscale print still tells them from the reference and the other bars.
STATUS_STYLE = {
    "reference": ("#2f5d8a", "", "reference"),
    "pass": ("#4f9d69", "", "pass"),
    "fail": ("#c62828", "xx", "FAIL"),
    "inconclusive": ("#d08c00", "", "inconclusive"),
    "insufficient_data": ("#8c959f", "///", "insufficient data"),
}
assert tuple(STATUS_STYLE) == STATUSES, "one style per status of the audit's vocabulary"
CHART_WIDTH = 3.2  # inches, labels aside: with them about 480 px, so a phone (390 px) shrinks it by a quarter
ROW = 0.24  # inches per group: one bar per row, so any number of groups keeps the chart this narrow
_NO_METADATA = dict.fromkeys(("Creator", "Date", "Format", "Type"), None)  # no version, date or URL in the SVG
# Namespace declarations are URLs; an SVG inlined in HTML5 needs none of them, nor the XML prolog.
_XML_NAMESPACES = (' xmlns="http://www.w3.org/2000/svg"', ' xmlns:xlink="http://www.w3.org/1999/xlink"')
# matplotlib numbers its groups per figure (figure_1, axes_1, ...): never referenced, but they would repeat
# across the charts of one page. The ids that are referenced (clip paths, markers, hatches) are salted hashes.
_COUNTER_ID = re.compile(r' id="[A-Za-z0-9.]+_[0-9]+"')
# Attributes holding coordinates, whose six decimals are rounded to two (a hundredth of a point).
_GEOMETRY = re.compile(r' (d|x|y|width|height|viewBox|transform)="([^"]*)"')
_DECIMAL = re.compile(r"-?\d+\.\d+")
# What draws nothing: an empty group, a rotation by 0 (matplotlib writes one on every label).
_NOTHING = re.compile(r'<g/>| transform="rotate\(-?0 [^)"]*\)"')
# A group without attributes around one element (matplotlib nests every artist so): the element alone draws the same.
_BARE_GROUP = re.compile(r"<g>(<(?:path|use|rect)\b[^>]*/>|<text\b[^>]*>[^<]*</text>)</g>")
JPEG_QUALITY = 90  # with no chroma subsampling: a mean map's pixels move by a few levels of 255 at most


def accuracy_chart(groups: Mapping[str, Mapping[str, Any]], overall_accuracy: float | None, chart_id: str) -> str:
    """Horizontal bars of per-group accuracy with its interval, coloured by status vs the reference (STATUS_STYLE).

    ``groups`` are the card's rows of one table (``n``, ``status``, ``rates``), one row each, top
    to bottom in the table's order, so an intersection of many groups grows taller, never wider
    than a phone; overall accuracy is a dashed line, the reference group's bar is outlined. The
    interval whiskers show which gaps the data can and cannot resolve; each accuracy and n is
    written beside its row.
    """
    with _style(chart_id):
        figure = Figure(figsize=(CHART_WIDTH, 1.0 + ROW * len(groups)))
        axes = figure.add_subplot()
        for y, row in enumerate(groups.values()):
            _bar(axes, y, row)
        axes.set_yticks(range(len(groups)), list(groups), fontsize=8)
        axes.tick_params(axis="y", length=0)
        axes.set_ylim(len(groups) - 0.5, -0.5)  # the first group on top, as in the table
        statuses = {row["status"]["reference"] for row in groups.values()}
        handles = [Patch(facecolor=colour, hatch=hatch, edgecolor="#666666", label=label)
                   for status, (colour, hatch, label) in STATUS_STYLE.items() if status in statuses]
        if overall_accuracy is not None:
            axes.axvline(overall_accuracy, color="#222222", linestyle="--", linewidth=1)
            handles.append(Line2D([], [], color="#222222", linestyle="--", label=f"overall {pct(overall_accuracy)}"))
        axes.set_xlim(0, 1)
        axes.set_xlabel("accuracy")
        _tidy(axes, "x")
        axes.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False, fontsize=8)
        return _svg(figure)


def _bar(axes: Axes, y: int, row: Mapping[str, Any]) -> None:
    """One group's bar, outlined when it is the reference, its interval as a whisker, its value and n to the right
    (beside the bars rather than in the label, which keeps the chart narrow)."""
    status = row["status"]["reference"]
    colour, hatch, _ = STATUS_STYLE[status]
    estimate = row["rates"]["accuracy"]
    accuracy = 0.0 if estimate["value"] is None else estimate["value"]
    reference = status == "reference"
    axes.barh(y, accuracy, height=0.7, color=colour, hatch=hatch, edgecolor="#222222" if reference else "#666666",
              linewidth=1.6 if reference else 0.6)
    low, high = estimate["ci"]
    if estimate["value"] is not None and low is not None and high is not None:
        axes.errorbar(accuracy, y, xerr=[[accuracy - low], [high - accuracy]], color="#222222", linewidth=0.8,
                      capsize=2)
    n = NOT_AVAILABLE if row["n"] is None else row["n"]
    axes.annotate(f"{pct(estimate['value'])} (n={n})", (1, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                  textcoords="offset points", ha="left", va="center", fontsize=8)


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
            _tidy(axes, "y")
            axes.legend(frameon=False, fontsize=8)
        return _svg(figure)


def front_chart(points: Sequence[Any], metric: str, chart_id: str) -> str:
    """Overall accuracy against the worst group's distance from parity, one point per backbone with both intervals;
    the Pareto front joined and its points filled (``comparison.Point``)."""
    with _style(chart_id):
        figure = Figure(figsize=(CHART_WIDTH + 0.6, 2.6))
        axes = figure.subplots()
        finite = [p for p in points if math.isfinite(p.gap)]
        for point in finite:
            high = point.gap_ci[1] if math.isfinite(point.gap_ci[1]) else point.gap
            axes.errorbar(point.gap, point.accuracy, xerr=[[point.gap - point.gap_ci[0]], [high - point.gap]],
                          yerr=[[point.accuracy - point.accuracy_ci[0]], [point.accuracy_ci[1] - point.accuracy]],
                          fmt="o" if point.on_front else "o", mfc="#222222" if point.on_front else "white",
                          mec="#222222", color="#888888", linewidth=0.8, capsize=2, markersize=5)
            axes.annotate(point.backbone, (point.gap, point.accuracy), xytext=(5, 4), textcoords="offset points",
                          fontsize=8)
        on_front = sorted((p for p in finite if p.on_front), key=lambda p: p.gap)
        if len(on_front) > 1:
            axes.plot([p.gap for p in on_front], [p.accuracy for p in on_front], color="#222222", linewidth=0.8,
                      linestyle="--")
        axes.set_xlabel(f"worst group's distance from parity ({metric})")
        axes.set_ylabel("overall accuracy")
        _tidy(axes, "both")
        return _svg(figure)


def data_uri(png: bytes) -> str:
    """A PNG picture as a data: URI for the page: as a JPEG (JPEG_QUALITY) where that is lighter, else the PNG.

    A mean map is a smooth heat scale over a face: as a JPEG it weighs about a third of its PNG, and
    its pixels move less than in a 256-colour PNG (a few levels against up to 25). Pillow's encoder has
    no randomness, so the same map gives the same bytes; a tiny or flat picture stays a PNG.
    """
    with Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    kind, data = min(("jpeg", buffer.getvalue()), ("png", png), key=lambda picture: len(picture[1]))
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _tidy(axes: Axes, grid: str) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis=grid, color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)


@contextlib.contextmanager
def _style(chart_id: str) -> Iterator[None]:
    """Scoped rcParams: text stays text (small, searchable) in the font matplotlib measured it with, ids are
    salted by chart, nothing leaks globally."""
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"fairvision:{chart_id}", "font.size": 9,
                                "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        yield


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    for declaration in _XML_NAMESPACES:
        svg = svg.replace(declaration, "", 1)
    svg = _GEOMETRY.sub(lambda m: f' {m.group(1)}="{_round(m.group(2))}"', _COUNTER_ID.sub("", svg))
    svg = _NOTHING.sub("", re.sub(r">\s+<", "><", svg))
    while True:  # inside out: a group left holding one element after its own inner group went is bare in turn
        svg, unwrapped = _BARE_GROUP.subn(r"\1", svg)
        if not unwrapped:
            return svg


def _round(value: str) -> str:
    """Coordinates to two decimals, path commands on one line: '12.345678 \\nL -0.001' -> '12.35 L 0'."""
    return " ".join(_DECIMAL.sub(lambda m: _two_decimals(m.group()), value).split())


def _two_decimals(number: str) -> str:
    text = f"{float(number):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
