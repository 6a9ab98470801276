"""Status badges: a small static SVG per report and per backbone, to show a verdict where a CI badge would go.

``reports/<D>/badge.svg`` counts the backbones by overall verdict; ``reports/<D>/<B>.badge.svg``
counts one backbone's group comparisons by status (the card's ``verdict.comparisons``, the same
numbers as the audit's headline.json). Each is coloured by its worst verdict, in the colours and
words of the report's own badges (``BADGES``), and carries a ``<title>`` saying what it counts.

The SVG is written by hand, not by a font-measuring library, so the same card gives the same bytes on
every machine: text widths come from a table of Verdana's advances, and ``textLength`` makes the
viewer fit the text to them whatever font it has. Every text is XML-escaped.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any, Mapping

from fairvision.report.card import NOT_MEASURED
from fairvision.report.plots import STATUS_STYLE

# Each audit status in its chart colour and word, and grey for an overall verdict never measured: the report's
# CSS badges and these SVG badges, so a status looks the same in a table, a chart and a README.
BADGES = {status: (colour, text) for status, (colour, _, text) in STATUS_STYLE.items()} | {
    NOT_MEASURED: ("#57606a", "not measured")}
# Overall verdicts, worst first: not measured is no pass, so it outranks one.
WORST_FIRST = ("fail", "inconclusive", NOT_MEASURED, "pass")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a standalone .svg file needs it to be drawn as an image

_LABEL_COLOUR = "#555"
_HEIGHT = 20
_PADDING = 6  # px each side of a text
# Advance widths of Verdana at 11 px; characters not listed take the width of their kind below.
_WIDTHS = {" ": 3.9, "i": 3.0, "l": 3.0, "j": 3.8, "f": 3.9, "t": 4.3, "r": 4.7, "c": 5.7, "s": 5.7, "z": 5.8,
           "m": 10.7, "w": 9.0, "I": 4.6, "M": 9.5, "W": 10.9, "·": 4.0, ".": 4.0, ",": 4.0, ":": 5.0, ";": 5.0,
           "(": 5.0, ")": 5.0, "-": 4.7, "_": 7.0, "+": 9.0, "'": 3.0}


def backbone_badge(backbone: str, card: Mapping[str, Any]) -> str:
    """One backbone's badge: "fairness: <B> | FAIL 1 · inconclusive 5", its group comparisons by status."""
    verdict = card["verdict"]
    overall, counts = verdict["overall"], verdict["comparisons"]
    parts = [f"{BADGES[status][1]} {counts[status]}" for status in ("fail", "inconclusive") if counts[status]]
    if not parts and overall == "pass":
        parts = [f"{BADGES['pass'][1]} {counts['pass']}"]
    if overall == NOT_MEASURED:
        title = f"{backbone}: no group fairness measured. {verdict['group_fairness']['reason']}"
    else:
        title = (f"{backbone}: overall verdict {BADGES[overall][1]}; group comparisons: "
                 + ", ".join(f"{counts[status]} {BADGES[status][1]}" for status in counts))
    return badge_svg(f"fairness: {backbone}", " · ".join(parts) or BADGES[overall][1], BADGES[overall][0], title)


def overall_badge(cards: Mapping[str, Mapping[str, Any]]) -> str:
    """The report's badge: "fairness: 3 models | FAIL 1 · inconclusive 2", the backbones by overall verdict."""
    verdicts = {backbone: card["verdict"]["overall"] for backbone, card in cards.items()}
    counts = Counter(verdicts.values())
    worst = next(verdict for verdict in WORST_FIRST if counts[verdict])
    message = " · ".join(f"{BADGES[verdict][1]} {counts[verdict]}" for verdict in WORST_FIRST if counts[verdict])
    title = "; ".join(f"{backbone}: {BADGES[verdict][1]}" for backbone, verdict in verdicts.items())
    return badge_svg(f"fairness: {len(cards)} model{'' if len(cards) == 1 else 's'}", message, BADGES[worst][0],
                     title)


def badge_svg(label: str, message: str, colour: str, title: str) -> str:
    """A flat two-part badge (grey label, coloured message) as a standalone SVG document."""
    label_width, message_width = _text_width(label), _text_width(message)
    left, right = label_width + 2 * _PADDING, message_width + 2 * _PADDING
    width = left + right
    texts = _text(label, left / 2, label_width) + _text(message, left + right / 2, message_width)
    return (f'<svg xmlns="{SVG_NAMESPACE}" width="{_n(width)}" height="{_HEIGHT}" role="img" '
            f'aria-label="{_escape(f"{label}: {message}")}"><title>{_escape(title)}</title>'
            '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            '<stop offset="1" stop-opacity=".1"/></linearGradient>'
            f'<clipPath id="r"><rect width="{_n(width)}" height="{_HEIGHT}" rx="3" fill="#fff"/></clipPath>'
            f'<g clip-path="url(#r)"><rect width="{_n(left)}" height="{_HEIGHT}" fill="{_LABEL_COLOUR}"/>'
            f'<rect x="{_n(left)}" width="{_n(right)}" height="{_HEIGHT}" fill="{_escape(colour)}"/>'
            f'<rect width="{_n(width)}" height="{_HEIGHT}" fill="url(#s)"/></g>'
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
            f'font-size="11">{texts}</g></svg>\n')


def _text(text: str, x: float, width: float) -> str:
    """A text with its shadow one pixel below, both fitted to ``width``."""
    escaped, fit = _escape(text), f'textLength="{_n(width)}" lengthAdjust="spacingAndGlyphs"'
    return (f'<text x="{_n(x)}" y="15" fill="#010101" fill-opacity=".3" {fit}>{escaped}</text>'
            f'<text x="{_n(x)}" y="14" {fit}>{escaped}</text>')


def _text_width(text: str) -> float:
    return round(sum(_WIDTHS.get(char, 7.5 if char.isupper() else 6.7 if char.isalpha() else 7.0)
                     for char in text), 1)


def _n(value: float) -> str:
    """A coordinate with at most one decimal, written the same on every machine: 12.0 -> '12', 3.25 -> '3.2'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
