"""The status badges: text, colour by the worst verdict, escaping, well-formed deterministic SVG, and the report's."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from test_report import BACKBONES, write_inputs

from fairvision.report.badge import BADGES, SVG_NAMESPACE, backbone_badge, badge_svg, overall_badge
from fairvision.report.render import render_reports

NS = {"svg": SVG_NAMESPACE}
REASON = "the `protected` list in params.yaml is empty"


def _card(overall: str, passed: int = 0, failed: int = 0, inconclusive: int = 0, small: int = 0) -> dict[str, Any]:
    """The part of a card a badge reads."""
    return {"verdict": {"overall": overall, "group_fairness": {"measured": overall != "not_measured",
                                                               "reason": REASON if overall == "not_measured" else None},
                        "comparisons": {"pass": passed, "fail": failed, "inconclusive": inconclusive,
                                        "insufficient_data": small}}}


def _read(svg: str) -> dict[str, Any]:
    """What a viewer shows: the two texts (each drawn twice, shadow and face), the message's colour, the tooltip."""
    root = ElementTree.fromstring(svg)
    texts = [text.text for text in root.iterfind(".//svg:text", NS)]
    rects = root.findall(".//svg:g/svg:rect", NS)
    return {"label": texts[1], "message": texts[3], "colour": rects[1].get("fill"),
            "title": root.find("svg:title", NS).text, "width": float(root.get("width")),
            "aria": root.get("aria-label"), "shadows_match": texts[0] == texts[1] and texts[2] == texts[3]}


@pytest.mark.parametrize(("card", "message", "colour"), [
    (_card("fail", passed=3, failed=2, inconclusive=5, small=4), "FAIL 2 · inconclusive 5", "fail"),
    (_card("inconclusive", passed=3, inconclusive=1), "inconclusive 1", "inconclusive"),
    (_card("inconclusive", small=6), "inconclusive", "inconclusive"),  # nothing judged: no count to give
    (_card("pass", passed=12, small=2), "pass 12", "pass"),
    (_card("not_measured"), "not measured", "not_measured"),
])
def test_a_backbones_badge_counts_its_comparisons_in_its_worst_colour(
        card: dict[str, Any], message: str, colour: str) -> None:
    badge = _read(backbone_badge("small_cnn", card))
    assert badge["label"] == "fairness: small_cnn" and badge["message"] == message
    assert badge["colour"] == BADGES[colour][0] and badge["shadows_match"]
    assert badge["aria"] == f"fairness: small_cnn: {message}"


def test_the_tooltip_says_what_is_counted_or_why_nothing_was() -> None:
    title = _read(backbone_badge("small_cnn", _card("fail", passed=3, failed=2, inconclusive=5, small=4)))["title"]
    assert title == ("small_cnn: overall verdict FAIL; group comparisons: 3 pass, 2 FAIL, 5 inconclusive, "
                     "4 insufficient data")
    assert _read(backbone_badge("cnn", _card("not_measured")))["title"] == f"cnn: no group fairness measured. {REASON}"


@pytest.mark.parametrize(("verdicts", "message", "colour"), [
    (("fail", "inconclusive", "inconclusive"), "FAIL 1 · inconclusive 2", "fail"),
    (("pass", "not_measured"), "not measured 1 · pass 1", "not_measured"),  # not measured is no pass
    (("pass",), "pass 1", "pass"),
])
def test_the_reports_badge_counts_the_models_by_verdict(verdicts: tuple[str, ...], message: str, colour: str) -> None:
    cards = {f"model_{i}": _card(verdict) for i, verdict in enumerate(verdicts)}
    badge = _read(overall_badge(cards))
    models = f"{len(verdicts)} model{'' if len(verdicts) == 1 else 's'}"
    assert badge["label"] == f"fairness: {models}" and badge["message"] == message
    assert badge["colour"] == BADGES[colour][0]
    assert badge["title"] == "; ".join(f"model_{i}: {BADGES[v][1]}" for i, v in enumerate(verdicts))


def test_text_is_escaped_and_reads_back_unchanged() -> None:
    name = '<script>alert("x")</script> & \'co\''
    svg = backbone_badge(name, _card("fail", failed=1))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    badge = _read(svg)  # parses as XML, and the viewer shows the name as written
    assert badge["label"] == f"fairness: {name}" and badge["aria"].startswith(f"fairness: {name}: ")


def test_the_svg_is_deterministic_and_sized_to_its_text() -> None:
    card = _card("fail", passed=3, failed=2, inconclusive=5)
    assert backbone_badge("small_cnn", card) == backbone_badge("small_cnn", card)
    short, long = _read(badge_svg("a", "b", "#000", "t")), _read(badge_svg("a much longer label", "b", "#000", "t"))
    assert long["width"] > short["width"] + 80
    svg = backbone_badge("small_cnn", card)
    assert svg.startswith(f'<svg xmlns="{SVG_NAMESPACE}" ') and svg.endswith("</svg>\n")
    assert "http" not in svg.replace(SVG_NAMESPACE, "")  # nothing to fetch: no font, no link


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = write_inputs(tmp_path_factory.mktemp("badges"))
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


def test_the_report_writes_a_badge_per_backbone_and_one_for_all(reports: Path) -> None:
    cards = {b: json.loads((reports / f"{b}.card.json").read_text()) for b in BACKBONES}
    for backbone, card in cards.items():
        assert (reports / f"{backbone}.badge.svg").read_text() == backbone_badge(backbone, card)
    overall = _read((reports / "badge.svg").read_text())
    assert overall["message"] == "FAIL 1 · inconclusive 1" and overall["colour"] == BADGES["fail"][0]
    small = _read((reports / "small_cnn.badge.svg").read_text())
    comparisons = cards["small_cnn"]["verdict"]["comparisons"]
    assert small["message"] == f"FAIL {comparisons['fail']} · inconclusive {comparisons['inconclusive']}"
