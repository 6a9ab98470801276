"""The card's JSON Schema (src/fairvision/report/card.schema.json) describes every card the report writes.

Each card the report tests render is validated: test_report's hand-made audits (one failing
backbone, one inconclusive; with test_report_explanations' explanations and test_report_cohorts'
discovery for one of them, and a fair model's discovery, nothing selected), the
real audit stage's output with an intersection and with no protected attribute at all, three
seeds audited as one procedure, and the cards of the project's own reports/ where a `dvc repro`
left some. The schema must also refuse what is not a card, or the tests above would prove nothing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_report import BACKBONES, MALICIOUS, _datasheet, _pets, _real_audit, write_inputs
from test_report_cohorts import PLANT, write_cohorts
from test_report_explanations import explanations, write_explanations
from test_report_seeds import _seed_tables

from fairvision.report.render import render_reports

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "src/fairvision/report/card.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
COMMITTED = sorted(ROOT.glob("reports/*/*.card.json"))


def _errors(card: Any) -> list[str]:
    return [f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
            for error in VALIDATOR.iter_errors(card)]


def _cards(out: Path) -> dict[str, Any]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(out.glob("*.card.json"))}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every scenario's cards, rendered by the report stage, by scenario and file name."""
    cards = {}
    explained = write_inputs(tmp_path_factory.mktemp("explained"))
    write_explanations(explained["audits_dir"], explanations())
    write_cohorts(explained["audits_dir"], PLANT)
    render_reports(BACKBONES, **explained)
    cards["hand-made, explained"] = _cards(explained["out_dir"])
    fair = write_inputs(tmp_path_factory.mktemp("fair"))
    write_cohorts(fair["audits_dir"], None, seed=7900)
    render_reports(BACKBONES, **fair)
    cards["hand-made, a fair model's discovery"] = _cards(fair["out_dir"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        import numpy as np

        from fairvision.audit.simulate import simulate_predictions

        sizes = {"White": 300, "Black": 280, "Latino_Hispanic": 290, MALICIOUS: 20}
        predictions = simulate_predictions(sizes, dict.fromkeys(sizes, 0.1) | {"Latino_Hispanic": 0.4}, seed=1)
        predictions["age"] = np.random.default_rng(0).choice(["20-29", "30-39"], len(predictions))
        real = _real_audit(tmp_path_factory.mktemp("real"), predictions, _datasheet(), ("race", "age"), monkeypatch,
                           intersections=(("race", "age"),))
        render_reports(BACKBONES, **real)
        cards["real audit, race × age"] = _cards(real["out_dir"])
        pets, datasheet = _pets(skin_tone=False)
        unmeasured = _real_audit(tmp_path_factory.mktemp("pets"), pets, datasheet, (), monkeypatch)
        render_reports(BACKBONES, **unmeasured)
        cards["no protected attribute"] = _cards(unmeasured["out_dir"])
        seeds = _real_audit(tmp_path_factory.mktemp("seeds"), _seed_tables(), _datasheet(), ("race",), monkeypatch)
        render_reports(BACKBONES, **seeds)
        cards["three seeds"] = _cards(seeds["out_dir"])
    return cards


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_rendered_card_is_valid(rendered: dict[str, Any]) -> None:
    seen = set()
    for scenario, cards in rendered.items():
        assert set(cards) == {f"{backbone}.card.json" for backbone in BACKBONES}, scenario
        for name, card in cards.items():
            assert _errors(card) == [], f"{scenario}: {name}"
            seen.add((card["verdict"]["overall"], card["explanations"]["explained"], card["seeds"]["measured"],
                      _cohorts_shape(card["cohorts"])))
    # the scenarios reach every shape the schema has alternatives for
    assert {overall for overall, _, _, _ in seen} == {"fail", "inconclusive", "not_measured"}
    assert {explained for _, explained, _, _ in seen} == {True, False} and {m for _, _, m, _ in seen} == {True, False}
    assert {shape for _, _, _, shape in seen} == {"not run", "nothing selected", "own and inherited findings"}


def _cohorts_shape(section: dict[str, Any]) -> str:
    if not section["run"]:
        return "not run"
    if not section["findings"]:
        return "nothing selected"
    return "own and inherited findings" if any(f["inherited"] for f in section["findings"]) else "own findings"


@pytest.mark.parametrize("path", COMMITTED, ids=[path.relative_to(ROOT).as_posix() for path in COMMITTED])
def test_the_projects_own_cards_are_valid(path: Path) -> None:
    """The cards `dvc repro` left in reports/ (absent from a fresh checkout: the report stage makes them)."""
    errors = _errors(json.loads(path.read_text(encoding="utf-8")))
    assert errors == [], f"{path} (written by an older report stage? `dvc repro` writes it again): {errors}"


def test_a_published_card_is_valid_and_its_stamp_is_checked(rendered: dict[str, Any]) -> None:
    card = copy.deepcopy(rendered["hand-made, explained"]["small_cnn.card.json"])
    card["published"] = {"run": "20261101T090000Z-0123456789ab-synthetic-0123456789ab", "git_revision": "0" * 40,
                         "dirty": False, "params_sha256": "f" * 64, "date": "2026-11-01T09:00:00Z"}
    assert _errors(card) == []
    card["published"]["git_revision"] = "main"
    assert _errors(card) == ["published.git_revision: 'main' does not match '^[0-9a-f]{40}$'"]


def _break(card: dict[str, Any], change: Any) -> list[str]:
    broken = copy.deepcopy(card)
    change(broken)
    return _errors(broken)


@pytest.mark.parametrize(("change", "where"), [
    (lambda c: c.pop("verdict"), ""),
    (lambda c: c.update(notes="extra"), ""),
    (lambda c: c["model_details"].update(weights="imagenet"), "model_details"),
    (lambda c: c["model_details"].update(sha256="not a digest"), "model_details.sha256"),
    (lambda c: c["evaluation_data"].pop("manifest_sha256"), "evaluation_data"),
    (lambda c: c["training_data"].update(warnings=[]), "training_data"),
    (lambda c: c["verdict"].update(overall="ok"), "verdict.overall"),
    (lambda c: c["verdict"]["comparisons"].pop("fail"), "verdict.comparisons"),
    (lambda c: c["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"]["White"]["status"]
     .update(others="pass"), "quantitative_analyses.partitions.race.outcomes.Female.groups.White.status"),
    (lambda c: c["quantitative_analyses"]["per_label"]["Female"]["f1"].update(ci=[0.1]),
     "quantitative_analyses.per_label.Female.f1.ci"),
    (lambda c: c["explanations"].update(explained="yes"), "explanations"),
    (lambda c: c["cohorts"].pop("summary"), "cohorts"),
    (lambda c: c["cohorts"]["findings"][0].update(verdict="ok"), "cohorts"),
    (lambda c: c["cohorts"]["findings"][0].update(inherited_from="race=Indian"), "cohorts"),  # an own finding
])
def test_the_schema_refuses_what_is_not_a_card(rendered: dict[str, Any], change: Any, where: str) -> None:
    errors = _break(rendered["hand-made, explained"]["small_cnn.card.json"], change)
    assert errors and all(error.startswith(f"{where}:") for error in errors), errors


def test_data_keyed_maps_take_any_name(rendered: dict[str, Any]) -> None:
    """Groups, labels and partitions are the user's: a new one is still a card."""
    def rename(card: dict[str, Any]) -> None:
        groups = card["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"]
        groups["<b>new group</b>"] = groups.pop("White")
    assert _break(rendered["hand-made, explained"]["small_cnn.card.json"], rename) == []
