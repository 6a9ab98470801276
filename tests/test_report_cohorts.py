"""The model card's "Cohorts" section, from cohorts.json files the real discover stage writes on simulated predictions.

A planted cohort (race=Indian × gender=Female, error rate higher by 0.3) is discovered and shown with its interval
and verdict, the selected intersections that only inherit a gap folded under the cohort they inherit it from; a
fair model's run says nothing was selected, naming q, the false-alarm rate and the smallest cohort tested; a
backbone the stage has not run on says how to run it; a broken cohorts.json is refused naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from fairvision.audit.tolerance import bands
from fairvision.discover import Cohort, Settings, discover
from fairvision.discover.describe import describe_selected
from fairvision.discover.record import EXAMPLES_JSON
from fairvision.discover.serialize import to_json
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, PROTECTED, Plant
from fairvision.discover.stage import discover_stage
from fairvision.errors import FairvisionError
from fairvision.explain import pictures
from fairvision.files import write_json
from fairvision.params import Tolerance
from fairvision.report.render import render_reports
from test_report import BACKBONES, write_inputs

DISCOVERED = "small_cnn"  # mobilenet_v2 is left without cohorts.json
PLANT = Cohort.of(ATTRIBUTES, race="Indian", gender="Female")
SETTINGS = Settings(bands=bands(Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={})), mdss_subsets=0)


def write_cohorts(audits_dir: Path, plant: Cohort | None, seed: int = 7800, rows: int = 10_000,
                  embedded: bool = False) -> dict[str, Any]:
    """cohorts.json of ``DISCOVERED`` as the discover stage writes it, on ``rows`` simulated predictions (the
    service_test flag searched as an extra column); returns it parsed.

    ``embedded``: with embeddings in which the planted rows sit apart (as in ``simulate.HiddenPlant``), searched as
    the stage searches them, and the examples folder the stage writes beside it; a model's Grad-CAM maps are the
    one thing a simulation has not, so the strips are drawn by the stage's drawing function over random pixels."""
    predictions = audits_dir / DISCOVERED / "predictions" / "seed-0.parquet"
    predictions.parent.mkdir(parents=True, exist_ok=True)
    table = Plant(plant, 0.3 if plant else 0.0).draw(rows, seed)
    table.to_parquet(predictions)
    out = audits_dir / DISCOVERED / "cohorts.json"
    if not embedded:
        discover_stage(predictions, out, labels=LABELS, favorable=FAVORABLE, protected=PROTECTED,
                       extra_columns=("service_test",), settings=SETTINGS)
        return json.loads(out.read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(rows, 32))
    embeddings[:, :4] += 2.5 * plant.covers_rows(table)[:, None]
    settings = dataclasses.replace(SETTINGS, embedding_components=4, embedding_shares=(0.1,))
    found = discover(table, labels=LABELS, favorable=FAVORABLE, attributes=(*PROTECTED, "service_test"),
                     settings=settings, embeddings=embeddings)
    descriptions = describe_selected(found, table, (*PROTECTED, "service_test"))
    write_json(out, to_json(found, descriptions))
    index = {}
    for cohort, description in descriptions.items():
        name = f"{cohort.method}-{cohort.index}.png"
        shape = (len(description.examples), 16, 16)
        pictures.write_png(audits_dir / DISCOVERED / "cohort-examples" / name,
                           pictures.strip(rng.uniform(0, 255, (*shape, 3)), rng.random(shape)))
        index[cohort.name] = {"picture": name, "ids": list(description.examples)}
    write_json(audits_dir / DISCOVERED / "cohort-examples" / EXAMPLES_JSON, {"schema_version": 1, "cohorts": index})
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Rendered once: small_cnn with the planted cohort's discovery (in its attributes and its embeddings),
    mobilenet_v2 without; and the cohorts.json."""
    inputs = write_inputs(tmp_path_factory.mktemp("cohorts"))
    written = write_cohorts(inputs["audits_dir"], PLANT, embedded=True)
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"], written


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Any]:
    return write_inputs(tmp_path)


def _section(page: str) -> str:
    return page[page.index('<h2 id="cohorts">'):page.index('<h2 id="explanations">')]


def _row(section: str, cohort: str, metric: str) -> str:
    row = re.search(rf'<tr [^>]*data-cohort="{re.escape(str(escape(cohort)))}" data-metric="{metric}">.*?</tr>',
                    section, re.S)
    assert row, f"no row for {cohort} ({metric})"
    return row.group(0)


def _selected(written: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for row in written["cohorts"] if row["selected"]]


def test_the_planted_cohort_is_a_row_with_its_interval_and_verdict(planted: tuple[Path, dict[str, Any]]) -> None:
    out, written = planted
    section = _section((out / f"{DISCOVERED}.html").read_text())
    found = next(r for r in _selected(written) if r["cohort"] == PLANT.name and r["metric"] == "error_rate_difference")
    assert found["verdict"] == "fail" and found["lineage"] == "own"
    row = _row(section, PLANT.name, "error_rate_difference")
    assert f"{found['value']:.3f} [{found['low']:.3f}, {found['high']:.3f}]" in row
    assert 'class="badge fail"' in row and f'title="{found["level"]:.1%} interval"' in row
    selection = written["selection"]
    summary = re.search(r'<p class="cohorts-summary">(.*?)</p>', section, re.S).group(1)
    considered = written["search"]["cohorts_considered"]
    assert (f"Searched {considered:,} cohorts of race, gender, age, service_test" in summary
            and f"tested the {selection['candidates']} most promising" in summary
            and f"selected {selection['selected']} at q = 0.1 (Benjamini–Hochberg, behind a false-alarm gate at "
                "0.05, which opened)" in summary and f"at {selection['interval_level']:.1%}" in summary)
    assert "cohorts-none" not in section


def test_every_selected_cohort_is_shown_once_inherited_ones_under_their_parent(
        planted: tuple[Path, dict[str, Any]]) -> None:
    out, written = planted
    card = json.loads((out / f"{DISCOVERED}.card.json").read_text())["cohorts"]
    selected = _selected(written)
    own = [(r["cohort"], r["metric"]) for r in selected if r["lineage"] == "own"]
    assert [(f["cohort"], f["metric"]) for f in card["findings"]] == own  # in the explore half's rank
    inherited = [r for r in selected if r["lineage"] == "inherited"]
    assert inherited, "the planted run selects an intersection that only inherits its parent's gap"
    placed = {(child["cohort"], child["metric"], parent["cohort"]) for parent in card["findings"]
              for child in parent["inherited"]}
    placed |= {(child["cohort"], child["metric"], None) for child in card["inherited_elsewhere"]}
    expected = {(r["cohort"], r["metric"], r["inherited_from"] if (r["inherited_from"], r["metric"]) in own else None)
                for r in inherited}
    assert placed == expected and len(placed) == len(inherited)
    section = _section((out / f"{DISCOVERED}.html").read_text())
    for child in inherited:  # folded: inside a <details>, never a row of the findings' table
        assert f'data-inherited="{escape(child["cohort"])}"' in section
        assert f'data-cohort="{escape(child["cohort"])}" data-metric="{child["metric"]}"' not in section
    inconclusive = [f for f in card["findings"] if f["verdict"] == "inconclusive"]
    assert inconclusive and all(f["minimum_detectable_gap"] is not None for f in inconclusive)
    cell = _row(section, inconclusive[0]["cohort"], inconclusive[0]["metric"])
    assert f'<td class="num">{inconclusive[0]["minimum_detectable_gap"]:.3f}</td>' in cell


def test_an_intersection_inheriting_from_a_cohort_not_selected_is_listed_apart(inputs: dict[str, Any]) -> None:
    written = write_cohorts(inputs["audits_dir"], PLANT)
    child = next(r for r in written["cohorts"] if r["selected"] and r["lineage"] == "inherited")
    child["inherited_from"] = "service_test=False"  # selected for no gap: its own gap was never a finding
    (inputs["audits_dir"] / DISCOVERED / "cohorts.json").write_text(json.dumps(written))
    render_reports(BACKBONES, **inputs)
    card = json.loads((inputs["out_dir"] / f"{DISCOVERED}.card.json").read_text())["cohorts"]
    assert [(c["cohort"], c["inherited_from"]) for c in card["inherited_elsewhere"]] == [
        (child["cohort"], "service_test=False")]
    assert all(c["cohort"] != child["cohort"] for f in card["findings"] for c in f["inherited"])
    section = _section((inputs["out_dir"] / f"{DISCOVERED}.html").read_text())
    apart = re.search(r'<details class="inherited-elsewhere">.*?</details>', section, re.S).group(0)
    assert "(from service_test=False)" in apart and "1 selected intersection only inherits" in apart


def test_a_fair_models_run_says_what_nothing_selected_means(inputs: dict[str, Any]) -> None:
    written = write_cohorts(inputs["audits_dir"], None, seed=7900)
    assert written["selection"]["selected"] == 0 and written["selection"]["candidates"] == 50
    render_reports(BACKBONES, **inputs)
    section = _section((inputs["out_dir"] / f"{DISCOVERED}.html").read_text())
    sizes = written["search"]["min_cohort_size"]
    none = re.search(r'<p class="cohorts-none"><strong>(.*?)</strong></p>', section, re.S).group(1)
    assert none.startswith("No cohort was selected at q = 0.1: a model with no disparity at all gets a report at most "
                           "5% of the time (the false-alarm gate)")
    assert (f"error rate difference {sizes['error_rate_difference']}, false negative rate difference "
            f"{sizes['false_negative_rate_difference']}") in none
    assert "which stayed shut" in section and '<table class="grid cohorts">' not in section


def test_a_test_split_too_small_to_test_any_cohort_says_so(inputs: dict[str, Any]) -> None:
    written = write_cohorts(inputs["audits_dir"], PLANT, rows=300)
    assert written["selection"]["candidates"] == 0
    render_reports(BACKBONES, **inputs)
    section = _section((inputs["out_dir"] / f"{DISCOVERED}.html").read_text())
    assert f"none was large enough to test on the other half ({written['split']['confirm_rows']})." in section
    assert "No cohort was tested, so none was selected" in section and "what a fair model shows" not in section


def test_a_backbone_without_discovery_says_how_to_run_it(planted: tuple[Path, dict[str, Any]]) -> None:
    out = planted[0]
    card = json.loads((out / "mobilenet_v2.card.json").read_text())["cohorts"]
    assert card == {"run": False,
                    "reason": "No cohort discovery for this model yet: run `fairvision discover mobilenet_v2 --dataset "
                              "synthetic` (stage discover@synthetic-mobilenet_v2), then the report again."}
    section = _section((out / "mobilenet_v2.html").read_text())
    assert section.count("<p") == 1 and str(escape(card["reason"])) in section


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(schema_version=1), "`schema_version` is 1, fairvision needs 2; rerun `fairvision discover`"),
    (lambda c: c["selection"].pop("gate_open"), "missing `selection.gate_open`"),
    (lambda c: c["selection"].update(selected=99), "`selection.selected` is 99, but `cohorts` holds"),
    (lambda c: _selected(c)[0].update(verdict="ok"), "`cohorts[0].verdict` must be one of pass, fail, inconclusive"),
    (lambda c: _selected(c)[0].update(inherited_from="race=Indian"),
     "`cohorts[0].inherited_from` must be null exactly when `cohorts[0].lineage` is own"),
])
def test_a_broken_cohorts_json_is_refused_naming_the_key(inputs: dict[str, Any], change: Any, message: str) -> None:
    written = write_cohorts(inputs["audits_dir"], PLANT)
    assert written["cohorts"][0]["selected"]  # the first ranked is the plant: the keys above are its own
    change(written)
    path = inputs["audits_dir"] / DISCOVERED / "cohorts.json"
    path.write_text(json.dumps(written))
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: {message}")):
        render_reports(BACKBONES, **inputs)
    assert not inputs["out_dir"].exists()


def test_an_odds_ratio_reads_without_exponents_and_says_when_it_is_beyond_reading() -> None:
    """An embedding cohort made of one group has an odds ratio in the tens of thousands (0.5 added to an empty cell):
    the card says '>1000', not '4.8e+04'."""
    from fairvision.report.fmt import odds

    assert [odds(x) for x in (72.48, 0.0124, 47504.0, 1.3124, 0.000188, None)] == [
        "72", "0.012", ">1000", "1.3", "<0.001", "n/a"]


def test_an_embedding_cohort_is_described_with_the_groups_it_holds_and_its_examples(
        planted: tuple[Path, dict[str, Any]]) -> None:
    out, written = planted
    described = {row["cohort"]: row["description"] for row in written["search"]["embeddings"]["cohorts"]
                 if row["description"]}
    assert described, "the planted rows sit apart in the embeddings: a cohort there is selected"
    card = json.loads((out / f"{DISCOVERED}.card.json").read_text())["cohorts"]["embeddings"]
    assert [found["cohort"] for found in card["described"]] == list(described)
    section = _section((out / f"{DISCOVERED}.html").read_text())
    for found in card["described"]:
        over = {(r["attribute"], r["value"]) for r in found["over"]}
        assert {("race", "Indian"), ("gender", "Female")} <= over  # the plant's groups, read back from the rows
        figure = re.search(rf'<figure class="embedding-cohort" data-embedding-cohort="{re.escape(found["cohort"])}">'
                           r'.*?</figure>', section, re.S).group(0)
        assert "Over-represented: " in figure and "race=Indian (odds ratio " in figure
        assert figure.count('<img class="strip" src="data:image/') == 1 and found["picture"]
