"""The trend pages' charts: one backbone's figures over the published runs, as small inline SVG.

Written directly as SVG elements rather than through matplotlib: a trend page is redrawn for
every run added, over every run so far, and a few rectangles, lines and circles per run cost
microseconds where a matplotlib axes costs a tenth of a second. The colours and words are the
report's (``report.badge.BADGES``, from the report's chart style), every mark carries a
``<title>`` with its numbers (a tooltip, and text a screen reader finds), every text is escaped,
and numbers are written with fixed decimals, so the same history gives the same bytes. Runs are
in time order, oldest on the left, labelled by date and short revision (``*``: a dirty tree).
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Callable, Sequence

from fairvision.publish.summary import BackboneSummary
from fairvision.report.badge import BADGES
from fairvision.report.fmt import num, pct

STACK = ("fail", "inconclusive", "pass", "insufficient_data")  # bottom to top: a new failure shows first
BAND_COLOUR, LINE_COLOUR, INK = "#d8eedf", "#2f5d8a", "#1f2328"
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 12, 28, 44  # margins (px) around the plot: y ticks, legend, run labels
_HEIGHT = 240
_MAX_LABELS = 16  # more runs than this: every k-th is labelled, so labels never overlap


@dataclasses.dataclass(frozen=True)
class _Frame:
    """The plot area of one chart: ``runs`` slots across, values ``low``..``high`` up."""

    runs: int
    low: float
    high: float

    @property
    def width(self) -> float:
        return min(1100.0, max(480.0, _LEFT + _RIGHT + 40.0 * self.runs))

    @property
    def slot(self) -> float:
        return (self.width - _LEFT - _RIGHT) / self.runs

    def x(self, run: int) -> float:
        return _LEFT + (run + 0.5) * self.slot

    def y(self, value: float) -> float:
        return _TOP + (self.high - value) / (self.high - self.low) * (_HEIGHT - _TOP - _BOTTOM)


def accuracy_chart(labels: Sequence[str], summaries: Sequence[BackboneSummary]) -> str:
    """Overall accuracy per run, joined by a line; with several training seeds, their lowest to highest."""
    values = [s.accuracy.value for s in summaries]
    ranges = [(s.accuracy.low, s.accuracy.high) if s.accuracy.seeds > 1 else (None, None) for s in summaries]
    frame = _frame(len(labels), [v for v in values if v is not None] + [v for r in ranges for v in r if v is not None])
    marks = [_polyline(frame, values)]
    for run, (value, (low, high), label) in enumerate(zip(values, ranges, labels)):
        if value is None:
            continue
        seeds = f", seeds {pct(low)}–{pct(high)}" if low is not None and high is not None else ""
        if seeds:
            marks.append(_whisker(frame, run, low, high, INK))
        marks.append(_dot(frame, run, value, LINE_COLOUR, f"{_one_line(label)}: accuracy {pct(value)}{seeds}"))
    return _svg(frame, labels, "accuracy", marks, pct, legend=[])


def verdicts_chart(labels: Sequence[str], summaries: Sequence[BackboneSummary]) -> str:
    """Group comparisons per run, stacked by status, fail at the bottom."""
    totals = [sum(s.comparisons[status] for status in STACK) for s in summaries]
    frame = _frame(len(labels), [0.0, float(max(totals, default=0) or 1)])
    marks = []
    for run, (summary, label) in enumerate(zip(summaries, labels)):
        bottom = 0
        for status in STACK:
            count = summary.comparisons[status]
            if count:
                marks.append(_bar(frame, run, bottom, bottom + count, BADGES[status][0],
                                  f"{_one_line(label)}: {count} {BADGES[status][1]}"))
            bottom += count
    return _svg(frame, labels, "group comparisons", marks, lambda value: f"{value:g}",
                legend=[BADGES[status] for status in STACK])


def gap_chart(labels: Sequence[str], summaries: Sequence[BackboneSummary], partition: str) -> str:
    """The partition's worst accuracy gap per run with its interval, coloured by verdict, over its tolerance band."""
    gaps = [summary.gaps.get(partition) for summary in summaries]
    bounds = [0.0] + [v for gap in gaps if gap is not None
                      for v in (*gap.tolerance, gap.estimate.value, gap.estimate.low, gap.estimate.high)
                      if v is not None]
    frame = _frame(len(labels), bounds)
    marks = [_rule(frame, 0.0)]
    for run, (gap, label) in enumerate(zip(gaps, labels)):
        if gap is None:
            continue
        marks.insert(0, _bar(frame, run, gap.tolerance[0], gap.tolerance[1], BAND_COLOUR,
                             f"{_one_line(label)}: tolerance [{gap.tolerance[0]:g}, {gap.tolerance[1]:g}]"))
        estimate, colour = gap.estimate, BADGES[gap.verdict][0]
        if estimate.value is None:
            continue
        if estimate.low is not None and estimate.high is not None:
            marks.append(_whisker(frame, run, estimate.low, estimate.high, colour))
        marks.append(_dot(frame, run, estimate.value, colour,
                          f"{_one_line(label)}: {gap.group} {num(estimate.value)} [{num(estimate.low)}, "
                          f"{num(estimate.high)}], {BADGES[gap.verdict][1]}"))
    legend = [(BAND_COLOUR, "tolerance band")] + [BADGES[verdict] for verdict in ("pass", "fail", "inconclusive")]
    return _svg(frame, labels, "accuracy gap", marks, lambda value: f"{value:g}", legend=legend)


def _frame(runs: int, values: Sequence[float]) -> _Frame:
    """A frame whose value range holds ``values`` with a little room, widened to whole tick steps."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:  # one value: a range around it
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = _step(low, high)
    return _Frame(max(runs, 1), math.floor(low / step) * step, math.ceil(high / step) * step)


def _step(low: float, high: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks over low..high."""
    raw = (high - low) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _svg(frame: _Frame, labels: Sequence[str], axis: str, marks: list[str], tick: Callable[[float], str],
         legend: list[tuple[str, str]]) -> str:
    """The chart: grid and y ticks, the marks, run labels below, the legend above."""
    step = _step(frame.low, frame.high)
    parts = []
    for i in range(round((frame.high - frame.low) / step) + 1):
        value = frame.low + i * step
        y = frame.y(value)
        parts.append(f'<line x1="{_LEFT}" x2="{_f(frame.width - _RIGHT)}" y1="{_f(y)}" y2="{_f(y)}" '
                     f'stroke="#dddddd" stroke-width="0.6"/><text x="{_LEFT - 4}" y="{_f(y + 3)}" '
                     f'text-anchor="end">{_escape(tick(value))}</text>')
    middle = (_TOP + _HEIGHT - _BOTTOM) / 2
    parts.append(f'<text transform="translate(12 {_f(middle)}) rotate(-90)" text-anchor="middle">'
                 f"{_escape(axis)}</text>")
    parts.extend(marks)
    every = max(1, math.ceil(len(labels) / _MAX_LABELS))
    for run in range(0, len(labels), every):
        lines = labels[run].split("\n")
        parts.append(f'<text x="{_f(frame.x(run))}" y="{_HEIGHT - _BOTTOM + 14}" text-anchor="middle">'
                     + "".join(f'<tspan x="{_f(frame.x(run))}" dy="{0 if i == 0 else 12}">{_escape(line)}</tspan>'
                               for i, line in enumerate(lines)) + "</text>")
    x = float(_LEFT)
    for colour, text in legend:
        parts.append(f'<rect x="{_f(x)}" y="8" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{_f(x + 14)}" y="17">{_escape(text)}</text>')
        x += 24 + 6.2 * len(text)
    return (f'<svg width="{_f(frame.width)}" height="{_HEIGHT}" viewBox="0 0 {_f(frame.width)} {_HEIGHT}" '
            f'font-family="DejaVu Sans, sans-serif" font-size="10" fill="{INK}" role="img" '
            f'aria-label="{_escape(axis)} per run">{"".join(parts)}</svg>')


def _polyline(frame: _Frame, values: Sequence[float | None]) -> str:
    """A line through the defined values; a run without one breaks it."""
    segments, current = [], []
    for run, value in enumerate(values):
        if value is None:
            segments.append(current)
            current = []
        else:
            current.append(f"{_f(frame.x(run))},{_f(frame.y(value))}")
    segments.append(current)
    return "".join(f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5"/>'
                   for points in segments if len(points) > 1)


def _dot(frame: _Frame, run: int, value: float, colour: str, title: str) -> str:
    return (f'<circle cx="{_f(frame.x(run))}" cy="{_f(frame.y(value))}" r="3.5" fill="{colour}">'
            f"<title>{_escape(title)}</title></circle>")


def _whisker(frame: _Frame, run: int, low: float, high: float, colour: str) -> str:
    x, top, bottom = frame.x(run), frame.y(high), frame.y(low)
    return (f'<path d="M{_f(x)} {_f(top)}V{_f(bottom)}M{_f(x - 3)} {_f(top)}H{_f(x + 3)}M{_f(x - 3)} {_f(bottom)}'
            f'H{_f(x + 3)}" stroke="{colour}" stroke-width="1.2" fill="none"/>')


def _bar(frame: _Frame, run: int, low: float, high: float, colour: str, title: str) -> str:
    width = frame.slot * 0.7
    return (f'<rect x="{_f(frame.x(run) - width / 2)}" y="{_f(frame.y(high))}" width="{_f(width)}" '
            f'height="{_f(frame.y(low) - frame.y(high))}" fill="{colour}"><title>{_escape(title)}</title></rect>')


def _rule(frame: _Frame, value: float) -> str:
    y = frame.y(value)
    return (f'<line x1="{_LEFT}" x2="{_f(frame.width - _RIGHT)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{INK}" '
            'stroke-width="0.8"/>')


def _one_line(label: str) -> str:
    return label.replace("\n", " ")


def _f(value: float) -> str:
    """A coordinate to a tenth of a pixel, written the same on every machine."""
    text = f"{value:.1f}"
    return "0" if text in ("0.0", "-0.0") else text.removesuffix(".0")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
