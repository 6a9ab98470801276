"""The report over training seeds: one seed says training variance was not measured; several show their spread.

The one-seed inputs are test_report's hand-made ones. The several-seed audit is the real audit
stage's, on simulated prediction tables of three seeds (the same test images, each seed's
predictions a little different) with one planted, clearly worse group: what is asserted is how
the card and pages say what the audit found, never a trained model's numbers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from fairvision.audit.simulate import simulate_predictions
from fairvision.errors import FairvisionError
from fairvision.report.render import render_reports
from test_report import BACKBONES, _datasheet, _real_audit, _row, write_inputs

SEEDS = (0, 1, 2)
PLANTED = "Latino_Hispanic"


def _seed_tables() -> dict[int, pd.DataFrame]:
    """Three seeds' predictions on the same images: seed 0's simulated table, each other seed flipping 3% of them."""
    sizes = {"White": 300, "Black": 280, PLANTED: 290}
    first = simulate_predictions(sizes, dict.fromkeys(sizes, 0.1) | {PLANTED: 0.4}, seed=1)
    tables = {}
    for seed in SEEDS:
        table = first.copy()
        if seed:
            flip = np.random.default_rng(seed).random(len(table)) < 0.03
            table.loc[flip, "pred"] = table.loc[flip, "pred"].map({"Female": "Male", "Male": "Female"})
        tables[seed] = table
    return tables


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_report's hand-made inputs: both backbones audited on one seed (0)."""
    inputs = write_inputs(tmp_path_factory.mktemp("one_seed"))
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


@pytest.fixture(scope="module")
def several(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """small_cnn's three seeds audited by the real stage as one procedure (mobilenet_v2 hand-made, one seed)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        inputs = _real_audit(tmp_path_factory.mktemp("seeds"), _seed_tables(), _datasheet(), ("race",), monkeypatch)
    render_reports(BACKBONES, **inputs)
    return inputs


def _card(out: Path, backbone: str = "small_cnn") -> dict[str, Any]:
    return json.loads((out / f"{backbone}.card.json").read_text())


def _seeds_box(page: str) -> str:
    box = re.search(r'<section class="banner seeds[^"]*" id="seeds">.*?</section>', page, re.S)
    assert box, "no seeds box on the page"
    return box.group(0)


def _index_cell(index: str, row: str, column: int) -> str:
    cells = re.search(rf'<tr><th scope="row">{row}</th>(.*?)</tr>', index, re.S).group(1)
    return re.findall(r"<td.*?</td>", cells, re.S)[column]


def test_one_seed_card_says_training_variance_was_not_measured(one_seed: Path) -> None:
    card = _card(one_seed)
    seeds = card["seeds"]
    assert seeds["measured"] is False and seeds["values"] == [0] and seeds["k"] == 1 and seeds["how"] is None
    assert "training variance was not measured" in seeds["reason"]
    assert seeds["per_seed"] == [{"seed": 0, "accuracy": 0.9}]  # no own verdict: the audit is that seed's
    assert card["model_details"]["training"]["seed"] == 0
    assert card["model_details"]["training"]["seeds"] == "seed 0"
    caveats = " ".join(card["caveats"])
    assert "covers the sampling of test images only, not a different training seed or split." in caveats
    assert "One training run (seed 0): training variance was not measured." in caveats
    assert "includes training variance" not in caveats
    groups = card["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"]
    assert groups[PLANTED]["vs_reference"]["equal_opportunity_difference"]["seeds"] is None
    assert groups[PLANTED]["rate_seeds"] == {}


def test_one_seed_page_shows_a_visible_not_measured_note(one_seed: Path) -> None:
    page = (one_seed / "small_cnn.html").read_text()
    box = _seeds_box(page)
    assert 'class="banner seeds-unmeasured"' in box
    assert "Training variance not measured: one seed (0)." in box
    assert "One training run (seed 0): training variance was not measured." in box
    assert page.index('id="seeds"') < page.index('<nav class="toc">')  # under the verdict, before any detail
    assert "class=\"seeds-spread\"" not in page and "fails in" not in page
    assert "px, seed 0</td>" in page


def test_one_seed_index_says_training_variance_was_not_measured(one_seed: Path) -> None:
    index = (one_seed / "index.html").read_text()
    for column in range(len(BACKBONES)):
        cell = _index_cell(index, "Training seeds", column)
        assert 'data-seeds="1"' in cell and "1 seed: training variance not measured" in cell
        assert str(escape("one training run (seed 0)")) in cell  # the audit's reason, on hover


def test_several_seeds_card_records_the_spread_and_each_seeds_audit(several: dict[str, Path]) -> None:
    card = _card(several["out_dir"])
    seeds = card["seeds"]
    assert seeds["measured"] is True and seeds["values"] == list(SEEDS) and seeds["k"] == 3
    assert seeds["served"] == 0 and seeds["reason"] is None and "3 training seeds" in seeds["how"]
    accuracy = seeds["accuracy"]
    assert len(accuracy["values"]) == 3 and accuracy["sd"] > 0
    assert accuracy["min"] == min(accuracy["values"]) < accuracy["mean"] < accuracy["max"] == max(accuracy["values"])
    assert [run["seed"] for run in seeds["per_seed"]] == list(SEEDS)
    for run in seeds["per_seed"]:
        assert set(run) == {"seed", "accuracy", "verdict", "failing"}
        assert run["verdict"] == "fail" and run["failing"] >= 1  # the planted group fails in every seed's audit
    assert card["model_details"]["training"]["seeds"].startswith(
        "seeds 0, 1, 2 (the first is the model served and explained")
    caveats = " ".join(card["caveats"])
    assert "includes training variance over 3 seeds, though not a different split. 3 training seeds audited" in caveats
    assert "not a different training seed" not in caveats and "and of the 3 training seeds" in caveats

    groups = card["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"]
    planted = groups[PLANTED]["vs_reference"]
    for judged in planted.values():
        spread = judged["seeds"]
        assert spread["k"] == 3 and len(spread["values"]) == 3 and 0 <= spread["fails"] <= 3
    assert any(judged["seeds"]["fails"] == 3 for judged in planted.values())
    assert set(groups[PLANTED]["rate_seeds"]["accuracy"]) == {"values", "k", "mean", "sd", "min", "max"}


def test_several_seeds_page_shows_the_box_the_table_and_each_comparisons_spread(several: dict[str, Path]) -> None:
    out = several["out_dir"]
    page, card = (out / "small_cnn.html").read_text(), _card(out)
    box = _seeds_box(page)
    assert 'class="banner seeds"' in box and "3 training seeds</strong> (0, 1, 2):" in box
    assert re.search(r"accuracy mean \d+\.\d% ± \d+\.\d% SD\s+\(\d+\.\d%–\d+\.\d%\)", box)
    assert str(escape(card["seeds"]["how"])) in box
    for run in card["seeds"]["per_seed"]:
        row = re.search(rf'<tr data-seed="{run["seed"]}">.*?</tr>', box, re.S).group(0)
        assert f"{run['accuracy']:.1%}" in row and f'class="badge {run["verdict"]}"' in row
        assert f'<td class="num">{run["failing"]}</td>' in row
        assert ("(served, explained)" in row) == (run["seed"] == 0)
    assert "Training variance not measured" not in page
    assert "px, seeds 0, 1, 2 (the first is the model served and explained" in page

    judged = card["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"][PLANTED][
        "vs_reference"]
    row = _row(page, PLANTED)
    for metric in card["quantitative_analyses"]["key_metrics"]:
        spread = judged[metric]["seeds"]
        assert (f'seeds: mean {spread["mean"]:.3f} ± {spread["sd"]:.3f}; fails in {spread["fails"]} of 3 seeds'
                in row), metric
    assert "fails in 3 of 3 seeds" in row
    assert 'title="seeds: mean ' in row  # each key rate's spread, on hover
    assert "class=\"seeds-spread\"" not in _row(page, "White")  # the reference group: no comparison against itself


def test_the_index_shows_each_backbones_seeds(several: dict[str, Path]) -> None:
    index = (several["out_dir"] / "index.html").read_text()
    card = _card(several["out_dir"])
    many, one = (_index_cell(index, "Training seeds", column) for column in range(2))
    accuracy = card["seeds"]["accuracy"]
    assert 'data-seeds="3"' in many and f"3 seeds: accuracy {accuracy['mean']:.1%} ± {accuracy['sd']:.1%} SD" in many
    assert 'data-seeds="1"' in one and "1 seed: training variance not measured" in one


def test_several_seeds_render_byte_identically(several: dict[str, Path], tmp_path: Path) -> None:
    inputs = several | {"out_dir": tmp_path / "again"}
    render_reports(BACKBONES, **inputs)
    for path in several["out_dir"].iterdir():
        assert (inputs["out_dir"] / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_training_record_of_another_seed_is_refused(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path)
    path = inputs["models_dir"] / "small_cnn" / "seed-0" / "train.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"seed": 4}))
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: `seed` is 4, but its folder is seed-0")):
        render_reports(BACKBONES, **inputs)
    assert not inputs["out_dir"].exists()
