"""The report stage on small hand-made inputs: pages, cards, escaping, atomicity, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from fairvision.errors import FairvisionError
from fairvision.report.card import natural_order
from fairvision.report.render import render_reports

BACKBONES = ("small_cnn", "mobilenet_v2")
MALICIOUS = "<script>alert(1)</script> & co"
TOLERANCE = {"statistical_parity_difference": 0.1, "disparate_impact": 0.8, "equal_opportunity_difference": 0.1,
             "average_odds_difference": 0.1, "error_rate_difference": 0.05}
SECTIONS = ("model_details", "intended_use", "factors", "metrics", "evaluation_data", "training_data",
            "quantitative_analyses", "ethical_considerations", "caveats", "flagged")


def _stats(n: int, accuracy: float | None) -> dict[str, Any]:
    return {"n": n, "accuracy": accuracy, "selection_rate": 0.5, "true_positive_rate": 0.9,
            "false_positive_rate": None if accuracy is None else 0.1, "error_rate": 0.1}


def _comparison(status: str, flagged: bool = False, value: float | None = 0.01) -> dict[str, Any]:
    return {"status": status,
            "metrics": {name: {"value": value, "flagged": flagged and name != "disparate_impact"}
                        for name in TOLERANCE}}


def _fairness(backbone: str, flags_race: bool) -> dict[str, Any]:
    race_status = "flagged" if flags_race else "ok"
    return {
        "backbone": backbone, "dataset": "synthetic", "target": "gender", "labels": ["Female", "Male"],
        "favorable_label": "Female", "n": 540, "accuracy": 0.9, "min_group_size": 30, "tolerance": TOLERANCE,
        "attributes": {
            "race": {
                "privileged": "White",
                "groups": {"White": _stats(300, 0.95), "Latino_Hispanic": _stats(228, 0.7), MALICIOUS: _stats(12, 0.5)},
                "comparisons": {"Latino_Hispanic": _comparison(race_status, flags_race, -0.2),
                                MALICIOUS: _comparison("too_small")},
                "flagged_groups": ["Latino_Hispanic"] if flags_race else [],
            },
            "age": {
                "privileged": "20-29",
                "groups": {"20-29": _stats(500, 0.91), "more than 70": _stats(40, None)},
                "comparisons": {"more than 70": _comparison("ok", value=None)},
                "flagged_groups": [],
            },
        },
    }


def _train(backbone: str) -> dict[str, Any]:
    return {"backbone": backbone, "options": {"alpha": 0.35}, "seed": 0, "epochs": 2, "batch_size": 64,
            "learning_rate": 0.002, "image_size": 64, "n_train": 900, "n_val": 100, "parameters": 412345,
            "wall_seconds": 7.5, "images_per_second": 240.0, "labels": ["Female", "Male"], "tensorflow": "2.21.0",
            "final": {"loss": 0.3, "accuracy": 0.88, "val_loss": 0.35, "val_accuracy": 0.86}}


def _datasheet() -> dict[str, Any]:
    def counts(scale: int) -> dict[str, Any]:
        return {
            "race": {"White": {"Female": 15 * scale, "Male": 15 * scale},
                     "Latino_Hispanic": {"Female": 11 * scale, "Male": 11 * scale},
                     MALICIOUS: {"Female": scale, "Male": 0}},
            "gender": {"Female": {"Female": 27 * scale, "Male": 0}, "Male": {"Female": 0, "Male": 26 * scale}},
            "age": {"20-29": {"Female": 25 * scale, "Male": 24 * scale},
                    "more than 70": {"Female": 2 * scale, "Male": 2 * scale}},
        }
    return {
        "dataset": "synthetic", "format": "fairface",
        "source": "data/raw/synthetic/fairface-img-margin025-trainval.zip", "source_sha256": "ab12",
        "target": "gender", "labels": ["Female", "Male"], "attributes": ["race", "gender", "age"],
        "protected": ["race", "age"], "n_images": {"train": 900, "val": 100, "test": 540}, "rejected": 0,
        "counts": {"train": counts(17), "val": counts(2), "test": counts(10)}, "intersections": {},
    }


def write_inputs(root: Path) -> dict[str, Path]:
    """audits/<B>/fairness.json, models/<B>/{train.json,history.csv}, datasheet.json; only small_cnn flags race."""
    audits, models = root / "audits", root / "models"
    for backbone in BACKBONES:
        (audits / backbone).mkdir(parents=True)
        (models / backbone).mkdir(parents=True)
        (audits / backbone / "fairness.json").write_text(json.dumps(_fairness(backbone, backbone == "small_cnn")))
        (models / backbone / "train.json").write_text(json.dumps(_train(backbone)))
        (models / backbone / "history.csv").write_text(
            "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.6,0.7,0.62,0.69\n2,0.3,0.88,,0.86\n")
    datasheet = root / "datasheet.json"
    datasheet.write_text(json.dumps(_datasheet()))
    return {"audits_dir": audits, "models_dir": models, "datasheet_path": datasheet, "out_dir": root / "reports"}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return write_inputs(tmp_path)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rendered once for the read-only tests: rendering draws six charts."""
    inputs = write_inputs(tmp_path_factory.mktemp("report"))
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


def _row(html: str, group: str) -> str:
    """The table row(s) of a group, found by the data-group attribute the templates put on each row."""
    rows = re.findall(rf'<tr[^>]*data-group="{re.escape(str(escape(group)))}"[^>]*>.*?</tr>', html, re.S)
    assert rows, f"no row for {group!r}"
    return "".join(rows)


def test_writes_index_page_and_card_per_backbone(reports: Path) -> None:
    expected = {"index.html"} | {f"{b}.html" for b in BACKBONES} | {f"{b}.card.json" for b in BACKBONES}
    assert {p.name for p in reports.iterdir()} == expected


def test_index_compares_backbones_and_links_their_pages(reports: Path) -> None:
    index = (reports / "index.html").read_text()
    for backbone in BACKBONES:
        assert f'href="{backbone}.html"' in index
    assert "90.0%" in index and "412,345" in index
    assert "FLAGGED" in _row(index, "Latino_Hispanic")
    assert "FLAGGED" not in _row(index, "White")
    assert "no group flagged" in index


def test_backbone_page_flags_only_the_flagged_group(reports: Path) -> None:
    page = (reports / "small_cnn.html").read_text()
    assert "FLAGGED" in _row(page, "Latino_Hispanic")
    for group in ("White", MALICIOUS, "20-29", "more than 70"):
        assert "FLAGGED" not in _row(page, group)
    assert "FLAGGED" not in _row((reports / "mobilenet_v2.html").read_text(), "Latino_Hispanic")


def test_too_small_group_is_shown_with_a_note(reports: Path) -> None:
    row = _row((reports / "small_cnn.html").read_text(), MALICIOUS)
    assert "too small" in row and "12" in row


def test_every_section_and_chart_is_on_the_page(reports: Path) -> None:
    page = (reports / "small_cnn.html").read_text()
    for title in ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
                  "Quantitative analyses", "Ethical considerations", "Caveats and recommendations"):
        assert f">{title}</h2>" in page
    assert page.count("<svg") == 3  # training curve + one chart per attribute
    assert "synthetic" in page and "confidence intervals" in page


def test_ids_are_unique_within_a_page(reports: Path) -> None:
    ids = re.findall(r' id="([^"]*)"', (reports / "small_cnn.html").read_text())
    assert len(ids) == len(set(ids))


def test_group_names_are_escaped(reports: Path) -> None:
    for page in reports.glob("*.html"):
        html = page.read_text()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_output_has_no_external_url(reports: Path) -> None:
    for path in reports.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name


def test_card_has_the_sections_and_the_flagged_map(reports: Path) -> None:
    card = json.loads((reports / "small_cnn.card.json").read_text())
    assert tuple(card) == SECTIONS
    assert card["flagged"] == {"race": ["Latino_Hispanic"], "age": []}
    assert json.loads((reports / "mobilenet_v2.card.json").read_text())["flagged"] == {"race": [], "age": []}
    assert card["quantitative_analyses"]["attributes"]["race"]["too_small"] == [MALICIOUS]


def test_null_values_render_as_not_available(reports: Path) -> None:
    row = _row((reports / "small_cnn.html").read_text(), "more than 70")
    assert row.count("n/a") == 2 + len(TOLERANCE)  # accuracy, FPR and every metric value


@pytest.mark.parametrize("existed", [False, True])
def test_missing_input_raises_and_leaves_the_output_alone(inputs: dict[str, Path], existed: bool) -> None:
    if existed:
        inputs["out_dir"].mkdir()
        (inputs["out_dir"] / "old.html").write_text("old")
    missing = inputs["audits_dir"] / "mobilenet_v2" / "fairness.json"
    missing.unlink()
    with pytest.raises(FairvisionError, match=re.escape(str(missing))):
        render_reports(BACKBONES, **inputs)
    if existed:
        assert [p.name for p in inputs["out_dir"].iterdir()] == ["old.html"]
    else:
        assert not inputs["out_dir"].exists()
    assert not list(inputs["out_dir"].parent.glob(".reports.*"))


def test_same_inputs_give_byte_identical_output(inputs: dict[str, Path]) -> None:
    render_reports(BACKBONES, **inputs)
    first = {path.name: path.read_bytes() for path in inputs["out_dir"].iterdir()}
    render_reports(BACKBONES, **inputs)  # over the previous folder, as `dvc repro` would
    assert {path.name: path.read_bytes() for path in inputs["out_dir"].iterdir()} == first


def test_unknown_status_is_refused_naming_the_field(inputs: dict[str, Path]) -> None:
    path = inputs["audits_dir"] / "small_cnn" / "fairness.json"
    fairness = json.loads(path.read_text())
    fairness["attributes"]["race"]["comparisons"]["Latino_Hispanic"]["status"] = "bad"
    path.write_text(json.dumps(fairness))
    with pytest.raises(FairvisionError, match=r"attributes\.race\.comparisons\.Latino_Hispanic\.status"):
        render_reports(BACKBONES, **inputs)


@pytest.mark.parametrize("backbones", [(), ("small_cnn", "small_cnn"), ("../small_cnn",), ("index",), ("",)])
def test_backbone_names_must_be_distinct_file_names(inputs: dict[str, Path], backbones: tuple[str, ...]) -> None:
    with pytest.raises(FairvisionError):
        render_reports(backbones, **inputs)
    assert not inputs["out_dir"].exists()


def test_groups_read_in_natural_order_not_the_audits_sorted_order() -> None:
    assert natural_order("age", ["10-19", "3-9", "more than 70", "0-2"]) == ["0-2", "3-9", "10-19", "more than 70"]
    assert natural_order("race", ["unknown", "White", "Black"]) == ["White", "Black", "unknown"]
