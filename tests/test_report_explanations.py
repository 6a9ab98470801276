"""The report's "Explanations" section on a hand-made explanations.json beside test_report's inputs.

Checks that each group's mean map is inlined (no external src) with its sample size, its disparity's
interval and the permutation test's verdict; that the faithfulness table and the trust sentence follow
the stage's verdicts; that a backbone without explanations gets one line (the stage is optional); and
that a broken explanations folder is refused naming the file. tests/test_explain_stage.py renders
what the real stage writes.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from conftest import encode_image
from fairvision.errors import FairvisionError
from fairvision.report.render import render_reports
from test_report import BACKBONES, MALICIOUS, write_inputs

EXPLAINED = "small_cnn"  # mobilenet_v2 is left without explanations
DATA_URI = "data:image/png;base64,"
MAP_SIZE = 8  # pixels a side of each stand-in picture


def _group(method: str, attribute: str, group: str, n: int, disparity: dict[str, Any] | None) -> dict[str, Any]:
    return {"n": n, "n_correct": n - 1, "n_incorrect": 1, "disparity": disparity,
            "pictures": {"mean": f"{method}/{attribute}/{group}.mean.png",
                         "overlays": f"{method}/{attribute}/{group}.overlays.png"}}


def _disparity(value: float | None, p_value: float | None, differs: bool | None) -> dict[str, Any]:
    ci = [None, None] if value is None else [round(value - 0.1, 6), round(value + 0.1, 6)]  # as the stage rounds
    return {"value": value, "ci": ci, "p_value": p_value, "differs": differs}


def _method(method: str, images: int) -> dict[str, Any]:
    """race: Latino_Hispanic differs, MALICIOUS does not (and has no LIME maps); age: a flat map, not tested."""
    race = {"White": _group(method, "race", "White", images, None),
            "Latino_Hispanic": _group(method, "race", "Latino_Hispanic", images, _disparity(0.42, 0.01, True))}
    if method == "gradcam":
        race[MALICIOUS] = _group(method, "race", "malicious", images, _disparity(0.05, 0.8, False))
    age = {"more than 70": _group(method, "age", "more_than_70", images, _disparity(None, None, None)),
           "20-29": _group(method, "age", "20-29", images, None)}  # written out of natural order, as sorted text
    return {"images": 3 * images,
            "attributes": {"race": {"reference": "White", "reference_explained": True, "groups": race},
                           "age": {"reference": "20-29", "reference_explained": True, "groups": age}}}


def _curve(auc: float, random_auc: float, beats: bool) -> dict[str, Any]:
    gain = abs(auc - random_auc)
    return {"auc": auc, "random_auc": random_auc, "beats_random": beats,
            "gain": {"value": gain, "ci": [gain - 0.05 if beats else -0.02, gain + 0.05]}}


def explanations() -> dict[str, Any]:
    """gradcam beats random on both curves; lime on insertion only, so only gradcam is to be trusted."""
    methods = {"gradcam": _method("gradcam", 4) | {"faithfulness": {
                   "images": 6, "deletion": _curve(0.31, 0.62, True), "insertion": _curve(0.81, 0.6, True)}},
               "lime": _method("lime", 2) | {"faithfulness": {
                   "images": 4, "deletion": _curve(0.6, 0.62, False), "insertion": _curve(0.7, 0.6, True)}}}
    return {"schema_version": 1, "backbone": EXPLAINED, "dataset": "synthetic",
            "params": {"methods": list(methods), "images_per_group": 4, "seed": 0,
                       "bootstrap": {"resamples": 200, "level": 0.9}},
            "definitions": {"disparity": "1 - Pearson correlation <b>of mean maps</b>"},
            "attributes": {"race": {"reference": "White"}, "age": {"reference": "20-29"}}, "reason": None,
            "methods": methods,
            "summary": {"beat_random_on_both_curves": ["gradcam"], "differ_measurably": [], "level": 0.9}}


def write_explanations(audits_dir: Path, record: dict[str, Any]) -> dict[str, bytes]:
    """explanations.json and a distinct, decodable PNG (one colour, MAP_SIZE square) for every picture it
    names, so a browser can show them (tests/test_report_browser.py); the mean maps' bytes by name."""
    folder = audits_dir / EXPLAINED / "explanations"
    folder.mkdir()
    (folder / "explanations.json").write_text(json.dumps(record))
    pictures = [(kind, name) for method in record["methods"].values() for part in method["attributes"].values()
                for group in part["groups"].values() for kind, name in group["pictures"].items()]
    means = {}
    for shade, (kind, name) in enumerate(pictures):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(encode_image((shade, 128, 255 - shade), "PNG", size=MAP_SIZE))
        if kind == "mean":
            means[name] = (folder / name).read_bytes()
    return means


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return write_inputs(tmp_path)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """Rendered once: small_cnn with explanations, mobilenet_v2 without; the mean maps' bytes by name."""
    inputs = write_inputs(tmp_path_factory.mktemp("explained"))
    means = write_explanations(inputs["audits_dir"], explanations())
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"], means


def _section(page: str) -> str:
    return page[page.index('<h2 id="explanations">'):page.index('<h2 id="ethical-considerations">')]


def _maps_row(section: str, group: str, table: int) -> str:
    """A group's row in the ``table``-th attribute's table of mean maps."""
    tables = re.findall(r'<table class="grid maps">.*?</table>', section, re.S)
    row = re.search(rf'<tr data-explained-group="{re.escape(str(escape(group)))}">.*?</tr>', tables[table], re.S)
    assert row, f"no row for {group!r}"
    return row.group(0)


def test_each_group_shows_its_sample_size_interval_and_verdict(rendered: tuple[Path, dict[str, bytes]]) -> None:
    section = _section((rendered[0] / f"{EXPLAINED}.html").read_text())
    latino = _maps_row(section, "Latino_Hispanic", 0)
    assert latino.count("disparity 0.42 [0.32, 0.52]") == 2
    assert latino.count("<strong>differs measurably</strong> (p = 0.01)") == 2
    assert "n = 4 " in latino and "n = 2 " in latino and latino.count('<td class="differs">') == 2
    malicious = _maps_row(section, MALICIOUS, 0)
    assert "no measurable difference (p = 0.8)" in malicious and '<td class="muted">no maps</td>' in malicious
    assert _maps_row(section, "White", 0).count("reference group") == 2
    assert _maps_row(section, "more than 70", 1).count("not tested (a flat map)") == 2
    assert section.index('data-explained-group="20-29"') < section.index('data-explained-group="more than 70"')
    assert "Up to 4 test images per group" in section and "200 draws" in section
    assert "&lt;b&gt;of mean maps&lt;/b&gt;" in section  # the stage's definitions, escaped


def test_faithfulness_table_and_the_trust_sentence_follow_the_stage(rendered: tuple[Path, dict[str, bytes]]) -> None:
    section = _section((rendered[0] / f"{EXPLAINED}.html").read_text())
    gradcam = re.search(r'<tr data-method="gradcam">.*?</tr>', section, re.S).group(0)
    lime = re.search(r'<tr data-method="lime">.*?</tr>', section, re.S).group(0)
    assert re.findall(r">(yes|no) <", gradcam) == ["yes", "yes"] and re.findall(r">(yes|no) <", lime) == ["no", "yes"]
    assert "0.310" in gradcam and "0.620" in gradcam and "(gain 0.310 [0.260, 0.360])" in gradcam
    assert ("Only gradcam beats the random baseline on both the deletion and the insertion curve for this model; "
            "explanations from lime do not, and should not be trusted.") in section


def test_mean_maps_are_inlined_as_data_uris(rendered: tuple[Path, dict[str, bytes]]) -> None:
    out, means = rendered
    sources = re.findall(r'<img [^>]*src="([^"]*)"', (out / f"{EXPLAINED}.html").read_text())
    assert len(sources) == 9  # 5 groups x 2 methods, less MALICIOUS's LIME hole
    assert all(source.startswith(DATA_URI) for source in sources)
    # every mean map, no other picture
    assert {base64.b64decode(source[len(DATA_URI):]) for source in sources} == set(means.values())
    assert '<img' not in (out / "mobilenet_v2.html").read_text()


def test_the_card_holds_the_section_and_a_backbone_without_explanations_says_so(
        rendered: tuple[Path, dict[str, bytes]]) -> None:
    out = rendered[0]
    section = json.loads((out / f"{EXPLAINED}.card.json").read_text())["explanations"]
    assert section["explained"] and section["methods"] == ["gradcam", "lime"] and section["trusted"] == ["gradcam"]
    assert list(section["attributes"]["age"]["groups"]) == ["20-29", "more than 70"]
    assert section["attributes"]["race"]["groups"][MALICIOUS]["lime"] is None
    cell = section["attributes"]["race"]["groups"]["Latino_Hispanic"]["gradcam"]
    assert cell == {"n": 4, "n_correct": 3, "n_incorrect": 1, "disparity": {"value": 0.42, "ci": [0.32, 0.52]},
                    "p_value": 0.01, "differs": True, "mean_map": "gradcam/race/Latino_Hispanic.mean.png"}
    absent = json.loads((out / "mobilenet_v2.card.json").read_text())["explanations"]
    assert absent["explained"] is False and "`fairvision explain mobilenet_v2 --dataset synthetic`" in absent["reason"]
    other = _section((out / "mobilenet_v2.html").read_text())
    assert other.count("<p") == 1 and str(escape(absent["reason"])) in other
    index = (out / "index.html").read_text()
    row = re.search(r'<tr><th scope="row">Explainers beating random</th>.*?</tr>', index, re.S).group(0)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row) == ["gradcam", "not explained"]


def test_a_stage_that_compared_no_groups_is_one_line(inputs: dict[str, Path]) -> None:
    record = explanations() | {"reason": "the dataset has no protected attributes: no groups to compare"}
    write_explanations(inputs["audits_dir"], record)
    render_reports(BACKBONES, **inputs)
    section = _section((inputs["out_dir"] / f"{EXPLAINED}.html").read_text())
    assert "No explanations compared: the dataset has no protected attributes" in section and "<img" not in section


def test_the_same_explanations_give_the_same_bytes(inputs: dict[str, Path]) -> None:
    write_explanations(inputs["audits_dir"], explanations())
    render_reports(BACKBONES, **inputs)
    first = {path.name: path.read_bytes() for path in inputs["out_dir"].iterdir()}
    render_reports(BACKBONES, **inputs)
    assert {path.name: path.read_bytes() for path in inputs["out_dir"].iterdir()} == first


def test_a_missing_mean_map_is_refused_naming_it(inputs: dict[str, Path]) -> None:
    write_explanations(inputs["audits_dir"], explanations())
    missing = inputs["audits_dir"] / EXPLAINED / "explanations" / "lime/race/White.mean.png"
    missing.unlink()
    with pytest.raises(FairvisionError, match=re.escape(f"{missing}: not found") + ".*fairvision explain"):
        render_reports(BACKBONES, **inputs)
    assert not inputs["out_dir"].exists()


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.update(schema_version=2), "`schema_version` is 2, fairvision needs 1; rerun `fairvision explain`"),
    (lambda r: r["methods"]["lime"].pop("faithfulness"), "missing `methods.lime.faithfulness`"),
    (lambda r: r["methods"]["gradcam"]["attributes"]["race"]["groups"]["Latino_Hispanic"]["disparity"].pop("differs"),
     "missing `methods.gradcam.attributes.race.groups.Latino_Hispanic.disparity.differs`"),
])
def test_a_broken_explanations_json_is_refused_naming_the_key(inputs: dict[str, Path], change: Any,
                                                               message: str) -> None:
    record = explanations()
    change(record)
    write_explanations(inputs["audits_dir"], record)
    path = inputs["audits_dir"] / EXPLAINED / "explanations" / "explanations.json"
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: {message}")):
        render_reports(BACKBONES, **inputs)
