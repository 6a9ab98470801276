"""The report stage on small hand-made inputs: pages, cards, verdicts, escaping, atomicity, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from fairvision.audit.measures import COMPARISONS, RATES
from fairvision.errors import FairvisionError
from fairvision.params import load_params
from fairvision.report.badge import SVG_NAMESPACE
from fairvision.report.comparison import effect_settings
from fairvision.report.render import render_reports

BACKBONES = ("small_cnn", "mobilenet_v2")
MALICIOUS = "<script>alert(1)</script> & co"
WARNING = (f"test group race = {MALICIOUS} has 12 images, fewer than audit.min_group_size (30): its metrics are "
           "reported but never judged")
UNDEFINED = "the reference group's error rate is 0, so the ratio is undefined (0/0)"
REASON = "largest race group in train (300 images); `auto` in params.yaml"
CORRECT_METRICS = ("statistical_parity_difference", "disparate_impact", "error_rate_difference", "error_rate_ratio")
SECTIONS = ("model_details", "seeds", "intended_use", "factors", "metrics", "evaluation_data", "training_data",
            "quantitative_analyses", "cohorts", "explanations", "ethical_considerations", "caveats", "verdict")
TITLES = ("Model details", "Intended use", "Factors", "Metrics", "Evaluation data", "Training data",
          "Quantitative analyses", "Cohorts", "Explanations", "Ethical considerations", "Caveats and recommendations")
OUTCOMES = [
    {"name": "Female", "label": "Female", "description": "true or predicted “Female” against every other class",
     "metrics": list(COMPARISONS)},
    {"name": "correct", "label": None, "description": "the prediction is correct (favourable for every image)",
     "metrics": list(CORRECT_METRICS)},
]


def _estimate(value: float | None) -> dict[str, Any]:
    return {"value": value, "ci": [None, None] if value is None else [value - 0.04, value + 0.04]}


def _judged(verdict: str, value: float | None = 0.01) -> dict[str, Any]:
    return _estimate(value) | {"verdict": verdict, "explanation": f"{verdict}: the interval <b>\"here\"</b>."}


def _group(n: int, accuracy: float | None, status: dict[str, str], metrics: list[str],
           failing: tuple[str, ...] = ()) -> dict[str, Any]:
    """One group of one table; comparisons only where judged, failing ``failing`` against the reference."""
    group: dict[str, Any] = {"n": n, "status": status,
                             "rates": {name: _estimate(0.5) for name in RATES} | {"accuracy": _estimate(accuracy)}}
    for against, verdict in status.items():
        if verdict not in ("reference", "insufficient_data"):
            group[f"vs_{against}"] = {m: _judged("fail" if m in failing and against == "reference" else "pass",
                                                 -0.2 if m in failing else 0.01) for m in metrics}
    return group


def _table(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    resolution = {"family_size": 12, "resamples": 2400, "at_ceiling": False}
    return {"interval_level": {"reference": 0.99, "rest": 0.99},
            "interval_resolution": {"reference": resolution, "rest": resolution | {"at_ceiling": True}},
            "theil_index": _estimate(0.108),
            "between_group_theil_index": _estimate(0.0003), "groups": groups}


def _race(outcome: dict[str, Any], fails: bool) -> dict[str, Any]:
    metrics = outcome["metrics"]
    failing = ("equal_opportunity_difference",) if fails and outcome["name"] == "Female" else ()
    return _table({
        "White": _group(300, 0.95, {"reference": "reference", "rest": "pass"}, metrics),
        "Latino_Hispanic": _group(228, 0.7, {"reference": "fail" if failing else "pass", "rest": "pass"}, metrics,
                                  failing),
        MALICIOUS: _group(12, 0.5, {"reference": "insufficient_data", "rest": "insufficient_data"}, metrics),
    })


def _age(outcome: dict[str, Any]) -> dict[str, Any]:
    """"more than 70" has no accuracy and an undefined comparison: both must read n/a, never crash."""
    metrics = outcome["metrics"]
    old = _group(40, None, {"reference": "inconclusive", "rest": "pass"}, metrics)
    old["vs_reference"]["error_rate_ratio"] = _judged("inconclusive", None) | {"undefined": UNDEFINED}
    reference = _group(500, 0.91, {"reference": "reference", "rest": "pass"}, metrics)
    return _table({"20-29": reference, "more than 70": old})


SINGLE_SEED = ("one training run (seed 0): training variance was not measured. Another seed of the same procedure "
               "may give a different model and different verdicts")


def _seeds() -> dict[str, Any]:
    """fairness.json's `seeds` for one training run (seed 0), as the audit writes it."""
    return {"values": [0], "training_variance": {"measured": False, "how": None, "reason": SINGLE_SEED},
            "accuracy": {"values": [0.9], "mean": 0.9, "sd": None},
            "per_seed": [{"seed": 0, "accuracy": 0.9, "verdict": None, "failing": None}]}


def _fairness(backbone: str, fails: bool) -> dict[str, Any]:
    failing = [{"partition": "race", "outcome": "Female", "against": "reference", "group": "Latino_Hispanic",
                "metrics": ["equal_opportunity_difference"]}] if fails else []
    return {
        "schema_version": 5, "backbone": backbone, "dataset": "synthetic", "target": "gender",
        "labels": ["Female", "Male"], "favorable_label": "Female", "n": 540, "accuracy": 0.9, "seeds": _seeds(),
        "settings": {
            "min_group_size": 30,
            "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95,
                          "stratified_by": "group (each group keeps its size)",
                          "per_label_stratified_by": "true label (each label keeps its n test images)"},
            "multiple_comparisons": {"method": "simultaneous", "family": "one table"},
            "tolerance": {name: [0.8, 1.25] if c.kind == "ratio" else [-0.1, 0.1] for name, c in COMPARISONS.items()},
        },
        "outcomes": OUTCOMES,
        "per_label": {"Female": {"n": 270, "precision": _estimate(0.61), "recall": _estimate(0.8),
                                 "f1": _estimate(0.69)},
                      "Male": {"n": 270, "precision": _estimate(None), "recall": _estimate(0.0), "f1": _estimate(0.0)}},
        "group_fairness": {"measured": True, "reason": None},
        "summary": {"verdict": "fail" if fails else "inconclusive", "failing": failing, "worst_group": {}},
        "partitions": {
            "race": {"attributes": ["race"], "reference": "White", "reference_reason": REASON,
                     "groups": {"White": {"n_train": 510, "n_test": 300},
                                "Latino_Hispanic": {"n_train": 374, "n_test": 228},
                                MALICIOUS: {"n_train": 17, "n_test": 12}},
                     "outcomes": {o["name"]: _race(o, fails) for o in OUTCOMES}},
            "age": {"attributes": ["age"], "reference": "20-29", "reference_reason": "set in params.yaml",
                    "groups": {}, "outcomes": {o["name"]: _age(o) for o in OUTCOMES}},
        },
        "differential_fairness": {"attributes": ["race", "age"], "concentration": 1.0, "groups": 5,
                                  "outcomes": {o["name"]: _estimate(1.87) for o in OUTCOMES},
                                  "interval": "one-sided: [0, upper bound]"},
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
            "age": {"more than 70": {"Female": 2 * scale, "Male": 2 * scale},
                    "20-29": {"Female": 25 * scale, "Male": 24 * scale}},
        }
    return {
        "dataset": "synthetic", "format": "fairface",
        "source": "data/raw/synthetic/fairface-img-margin025-trainval.zip", "source_sha256": "ab12",
        "target": "gender", "labels": ["Female", "Male"], "attributes": ["race", "gender", "age"],
        "protected": ["race", "age"], "n_images": {"train": 900, "val": 100, "test": 540}, "rejected": 4,
        "unlabelled": 7,
        "counts": {"train": counts(17), "val": counts(2), "test": counts(10)}, "intersections": {},
        "label_counts": {split: {label: sum(by_label[label] for by_label in counts(scale)["race"].values())
                                 for label in ("Female", "Male")}
                         for split, scale in (("train", 17), ("val", 2), ("test", 10))},
    }


def write_inputs(root: Path) -> dict[str, Any]:
    """audits/<B>/fairness.json (one seed, 0), models/<B>/seed-0/train.json, training/<B>/seed-0/history.csv,
    timings/<B>/seed-0.json, datasheet.json, manifest.parquet; only small_cnn fails race."""
    audits, models, training, timings = root / "audits", root / "models", root / "training", root / "timings"
    for backbone in BACKBONES:
        for folder in (audits / backbone, models / backbone / "seed-0", training / backbone / "seed-0",
                       timings / backbone):
            folder.mkdir(parents=True)
        (audits / backbone / "fairness.json").write_text(json.dumps(_fairness(backbone, backbone == "small_cnn")))
        record = _train(backbone)
        speed = {key: record.pop(key) for key in ("wall_seconds", "images_per_second")}
        (models / backbone / "seed-0" / "train.json").write_text(json.dumps(record))
        (timings / backbone / "seed-0.json").write_text(json.dumps(speed))
        (training / backbone / "seed-0" / "history.csv").write_text(
            "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.6,0.7,0.62,0.69\n2,0.3,0.88,,0.86\n")
    datasheet = root / "datasheet.json"
    datasheet.write_text(json.dumps(_datasheet()))
    manifest = root / "manifest.parquet"
    manifest.write_bytes(b"the prepared manifest's bytes: only hashed by the report")
    return {"audits_dir": audits, "models_dir": models, "training_dir": training, "timings_dir": timings,
            "datasheet_path": datasheet, "manifest_path": manifest, "out_dir": root / "reports",
            "settings": effect_settings(load_params(Path(__file__).resolve().parents[1] / "params.yaml").audit)}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return write_inputs(tmp_path)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rendered once for the read-only tests: rendering draws six charts."""
    inputs = write_inputs(tmp_path_factory.mktemp("report"))
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


def _page(reports: Path, backbone: str = "small_cnn") -> str:
    return (reports / f"{backbone}.html").read_text()


def _row(html: str, group: str) -> str:
    """The headline table row of a group, found by the data-group attribute the templates put on it."""
    rows = re.findall(rf'<tr[^>]*data-group="{re.escape(str(escape(group)))}"[^>]*>.*?</tr>', html, re.S)
    assert rows, f"no row for {group!r}"
    return "".join(rows)


def _banner(html: str) -> str:
    return re.search(r'<section class="banner[^"]*">.*?</section>', html, re.S).group(0)


def _edit(inputs: dict[str, Path], backbone: str, change: Any) -> Path:
    """Apply ``change`` to a backbone's fairness.json in place; return its path."""
    path = inputs["audits_dir"] / backbone / "fairness.json"
    fairness = json.loads(path.read_text())
    change(fairness)
    path.write_text(json.dumps(fairness))
    return path


def test_writes_index_page_and_card_per_backbone(reports: Path) -> None:
    expected = ({"index.html", "badge.svg"} | {f"{b}.html" for b in BACKBONES} | {f"{b}.card.json" for b in BACKBONES}
                | {f"{b}.badge.svg" for b in BACKBONES})
    assert {p.name for p in reports.iterdir()} == expected


def test_index_compares_backbones_verdicts_and_failing_groups(reports: Path) -> None:
    index = (reports / "index.html").read_text()
    for backbone in BACKBONES:
        assert f'href="{backbone}.html"' in index
    assert "90.0%" in index and "412,345" in index
    verdict_row = re.search(r"<tr><th scope=\"row\">Overall verdict</th>.*?</tr>", index, re.S).group(0)
    assert re.findall(r'class="badge (\w+)"', verdict_row) == ["fail", "inconclusive"]
    failing_row = re.search(r"<tr><th scope=\"row\">Failing race groups</th>.*?</tr>", index, re.S).group(0)
    assert "Latino_Hispanic" in failing_row and "no failing group" in failing_row
    assert 'class="badge fail"' in _row(index, "Latino_Hispanic")
    assert "insufficient data" in _row(index, MALICIOUS)


def test_failing_group_shows_the_fail_badge_and_is_in_the_banner(reports: Path) -> None:
    page = _page(reports)
    row = _row(page, "Latino_Hispanic")
    assert 'class="badge fail"' in row and "v-fail" in row
    banner = _banner(page)
    assert 'class="banner verdict-fail"' in banner
    assert "Latino_Hispanic" in banner and "“Female” vs reference" in banner
    for group in ("White", "20-29", "more than 70"):
        assert 'class="badge fail"' not in _row(page, group)
    other = _page(reports, "mobilenet_v2")
    assert 'class="badge fail"' not in _row(other, "Latino_Hispanic")
    assert 'class="banner verdict-inconclusive"' in _banner(other) and "Latino_Hispanic" not in _banner(other)


def test_verdict_explanation_is_the_cells_tooltip(reports: Path) -> None:
    row = _row(_page(reports), "Latino_Hispanic")
    assert 'title="fail: the interval &lt;b&gt;&#34;here&#34;&lt;/b&gt;."' in row
    assert "-0.200 [-0.240, -0.160]" in row  # value and interval, compact


def test_insufficient_data_group_is_listed_with_its_size(reports: Path) -> None:
    page = _page(reports)
    row = _row(page, MALICIOUS)
    assert 'class="badge insufficient_data"' in row and "insufficient data" in row
    assert '<td class="num">12</td>' in row and "not judged" in row
    assert "insufficient data: " + str(escape(MALICIOUS)) in _banner(page)


def test_reference_group_and_reason_are_shown(reports: Path) -> None:
    page = _page(reports)
    assert f"Reference group: <strong>White</strong>, because: {escape(REASON)}." in page
    assert 'class="badge reference"' in _row(page, "White")
    assert "privileged" not in page.lower()
    assert "privileged" not in (reports / "small_cnn.card.json").read_text().lower()


def test_metrics_section_lists_every_comparison_with_its_band(reports: Path) -> None:
    page = _page(reports)
    section = page[page.index('<h2 id="metrics">'):page.index('<h2 id="evaluation-data">')]
    for comparison in COMPARISONS.values():
        assert f"{comparison.title} ({comparison.short})" in section
    assert "ratio, parity at 1" in section and "difference, parity at 0" in section
    assert "[0.8, 1.25]" in section and "[-0.1, 0.1]" in section
    assert "1000" in section and "95.0%" in section and "<code>simultaneous</code>" in section


def test_every_metric_of_every_outcome_is_in_a_details_block(reports: Path) -> None:
    page = _page(reports)
    blocks = re.findall(r"<details>.*?</details>", page, re.S)
    assert len(blocks) == 2  # one per partition
    race = blocks[0]
    assert "Outcome “correct”" in race and "vs the rest" in race
    for comparison in COMPARISONS.values():
        assert f'<abbr title="{comparison.title}">{comparison.short}</abbr>' in race
    assert "99.0%" in race  # the table's interval level


def test_inequality_indices_and_differential_fairness_are_shown(reports: Path) -> None:
    page = _page(reports)
    assert "Theil index 0.108 [0.068, 0.148]" in page
    assert "Between-group Theil index 0.0003 [" in page
    assert "Smoothed empirical differential fairness" in page
    assert "<strong>1.87</strong>, at most <strong>1.91</strong> at 95.0%" in page and "one-sided" in page


def test_a_level_at_its_ceiling_says_so_and_never_reads_100_percent(reports: Path) -> None:
    page = _page(reports)
    assert "99.0% (capped by the resamples: the family needed more) against the rest" in page
    from fairvision.report.fmt import level
    assert level(0.99976) == "99.98%" and level(0.9999996) == "99.99996%" and level(1.0) == "100.0%"


def test_every_section_and_chart_is_on_the_page(reports: Path) -> None:
    page = _page(reports)
    for title in TITLES:
        assert f">{title}</h2>" in page
    assert page.count("<svg") == 3  # training curve + one chart per partition


def test_caveats_match_what_the_audit_does(reports: Path) -> None:
    card = json.loads((reports / "small_cnn.card.json").read_text())
    caveats = " ".join(card["caveats"])
    assert "synthetic" in caveats
    assert "without confidence intervals" not in caveats
    assert "bootstrap interval" in caveats and "inconclusive" in caveats.lower()
    assert "fewer than 30 test images" in caveats and f"Insufficient data for race: {MALICIOUS}." in caveats


def test_per_label_performance_is_on_the_page_the_card_and_the_index(reports: Path) -> None:
    page, index = _page(reports), (reports / "index.html").read_text()
    female = re.search(r'<tr data-label="Female">.*?</tr>', page, re.S).group(0)
    assert '<td class="num">270</td>' in female and "0.61 [0.57, 0.65]" in female and "0.80 [0.76, 0.84]" in female
    male = re.search(r'<tr data-label="Male">.*?</tr>', page, re.S).group(0)
    assert male.count("n/a") == 1  # precision undefined: never predicted
    assert "0.69 [0.65, 0.73]" in re.search(r'<tr data-label="Female">.*?</tr>', index, re.S).group(0)
    card = json.loads((reports / "small_cnn.card.json").read_text())
    per_label = card["quantitative_analyses"]["per_label"]
    assert list(per_label) == ["Female", "Male"]
    assert per_label["Male"]["precision"] == {"value": None, "ci": [None, None]}


def _small_groups(html: str, partition: str) -> str:
    """The cell listing a partition's small test groups in the data warnings' table."""
    table = re.search(r'<h3 id="data-warnings">Data warnings</h3>.*?<table class="grid small-groups">.*?</table>',
                      html, re.S)
    assert table, "no table of small groups"
    row = re.search(rf'<tr data-partition="{re.escape(str(escape(partition)))}"><th scope="row">[^<]*</th>'
                    r"<td>([^<]*)</td></tr>", table.group(0))
    assert row, f"no row for {partition!r}"
    return row.group(1)


def test_small_test_groups_and_skipped_images_are_on_every_page(reports: Path) -> None:
    """The audit's groups under min_group_size (race's third group: 12 test images, 30 needed) are listed: in the
    card as the audit's sentences and as a table, on the pages as one compact table (a row per partition)."""
    card = json.loads((reports / "small_cnn.card.json").read_text())
    assert {key: card["evaluation_data"][key] for key in ("rejected", "unlabelled", "warnings", "small_groups")} == {
        "rejected": 4, "unlabelled": 7, "warnings": [WARNING],
        "small_groups": {"min_group_size": 30, "groups": {"race": {MALICIOUS: 12}}}}
    for html in (_page(reports), (reports / "index.html").read_text()):
        assert _small_groups(html, "race") == f"{escape(MALICIOUS)} (12)"
        assert "fewer than 30 images" in html and 'data-partition="age"' not in html
        assert "4 images rejected by validation; 7 unlabelled images in the source skipped." in html
        assert "<li>test group" not in html  # the table replaced the list of sentences


def test_the_small_groups_table_names_the_warnings_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """card.py's small_groups and the audit's warnings apply one rule: the same groups, with the same n, a group
    of the training split absent from the test split (0 images) included."""
    import numpy as np

    from fairvision.audit.simulate import simulate_predictions

    sizes = {"White": 300, "Black": 40, "Indian": 25}
    predictions = simulate_predictions(sizes, dict.fromkeys(sizes, 0.1), seed=3)
    predictions["age"] = np.random.default_rng(0).choice(["20-29", "30-39"], len(predictions), p=[0.8, 0.2])
    absent = predictions.head(3).assign(race=MALICIOUS)
    inputs = _real_audit(tmp_path, predictions, _datasheet(), ("race", "age"), monkeypatch, train_only=absent,
                         intersections=(("race", "age"),), min_group_size=45)
    render_reports(BACKBONES, **inputs)
    data = json.loads((inputs["out_dir"] / "small_cnn.card.json").read_text())["evaluation_data"]
    rows = [(partition, group, n) for partition, groups in data["small_groups"]["groups"].items()
            for group, n in groups.items()]
    assert len(rows) == len(data["warnings"]) > 3
    for (partition, group, n), warning in zip(rows, data["warnings"]):
        named = " × ".join(f"{a} = {v}" for a, v in zip(partition.split(" × "), group.split(" × ")))
        assert warning.startswith(f"test group {named} has {n} images, fewer than audit.min_group_size (45)")
    assert ("race", MALICIOUS, 0) in rows  # in the training split only


def test_an_older_datasheet_without_unlabelled_still_renders(inputs: dict[str, Path]) -> None:
    datasheet = json.loads(inputs["datasheet_path"].read_text())
    del datasheet["unlabelled"]
    inputs["datasheet_path"].write_text(json.dumps(datasheet))
    render_reports(BACKBONES, **inputs)
    card = json.loads((inputs["out_dir"] / "small_cnn.card.json").read_text())
    assert card["evaluation_data"]["unlabelled"] == 0


def test_without_small_groups_the_data_warnings_say_none(inputs: dict[str, Path]) -> None:
    for backbone in BACKBONES:
        path = inputs["audits_dir"] / backbone / "fairness.json"
        fairness = json.loads(path.read_text())
        fairness["settings"]["min_group_size"] = 5
        path.write_text(json.dumps(fairness))
    render_reports(BACKBONES, **inputs)
    card = json.loads((inputs["out_dir"] / "small_cnn.card.json").read_text())
    assert card["evaluation_data"]["warnings"] == []
    for html in (_page(inputs["out_dir"]), (inputs["out_dir"] / "index.html").read_text()):
        assert '<h3 id="data-warnings">Data warnings</h3>\n<p class="muted">None.</p>' in html


def test_ids_are_unique_within_a_page(reports: Path) -> None:
    ids = re.findall(r' id="([^"]*)"', _page(reports))
    assert len(ids) == len(set(ids))


def test_group_names_are_escaped(reports: Path) -> None:
    for page in reports.glob("*.html"):
        html = page.read_text()
        assert "<script>alert" not in html and "<b>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_output_has_no_external_url(reports: Path) -> None:
    for path in reports.iterdir():
        text = path.read_text().replace(f'xmlns="{SVG_NAMESPACE}"', "")  # a badge's namespace names, never fetches
        assert "http://" not in text and "https://" not in text, path.name


def test_card_has_the_sections_and_the_verdict(reports: Path) -> None:
    card = json.loads((reports / "small_cnn.card.json").read_text())
    assert tuple(card) == SECTIONS
    assert card["verdict"]["overall"] == "fail"
    assert card["verdict"]["failing"] == {"race": {"Latino_Hispanic": {"Female": ["reference"]}}, "age": {}}
    assert card["verdict"]["headline_failing"] == {"race": ["Latino_Hispanic"], "age": []}
    assert card["verdict"]["insufficient_data"] == {"race": [MALICIOUS], "age": []}
    other = json.loads((reports / "mobilenet_v2.card.json").read_text())["verdict"]
    assert other["overall"] == "inconclusive" and other["headline_failing"] == {"race": [], "age": []}


def test_groups_keep_the_audits_order(reports: Path) -> None:
    card = json.loads((reports / "small_cnn.card.json").read_text())
    groups = card["quantitative_analyses"]["partitions"]["race"]["outcomes"]["Female"]["groups"]
    assert list(groups) == ["White", "Latino_Hispanic", MALICIOUS]
    assert list(card["evaluation_data"]["counts"]["age"]) == ["20-29", "more than 70"]  # natural, not as listed


def test_null_values_render_as_not_available(reports: Path) -> None:
    row = _row(_page(reports), "more than 70")
    assert row.count("n/a") == 1  # accuracy: no value, no interval


def test_undefined_comparison_reads_not_available_with_its_reason(reports: Path) -> None:
    age = re.findall(r"<details>.*?</details>", _page(reports), re.S)[1]
    cell = re.search(r'<td class="num v-inconclusive" title="[^"]*\(the reference group&#39;s error rate[^"]*">'
                     r"n/a <span", age)
    assert cell, "the undefined ratio shows n/a with the reason in its tooltip"


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


@pytest.mark.parametrize(("change", "key"), [
    (lambda f: f["partitions"]["race"].pop("reference_reason"), "partitions.race.reference_reason"),
    (lambda f: f["settings"]["bootstrap"].pop("level"), "settings.bootstrap.level"),
    (lambda f: f["partitions"]["age"]["outcomes"]["correct"]["groups"]["more than 70"]["vs_rest"].pop(
        "error_rate_ratio"), "partitions.age.outcomes.correct.groups.more than 70.vs_rest.error_rate_ratio"),
    (lambda f: f["partitions"]["race"]["outcomes"]["Female"]["groups"]["Latino_Hispanic"].pop("vs_reference"),
     "partitions.race.outcomes.Female.groups.Latino_Hispanic.vs_reference"),
    (lambda f: f.pop("differential_fairness"), "differential_fairness"),
])
def test_missing_key_is_refused_naming_the_file_and_key(inputs: dict[str, Path], change: Any, key: str) -> None:
    path = _edit(inputs, "mobilenet_v2", change)
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: missing `{key}`")):
        render_reports(BACKBONES, **inputs)
    assert not inputs["out_dir"].exists()


def test_unknown_status_is_refused_naming_the_field(inputs: dict[str, Path]) -> None:
    def change(fairness: dict[str, Any]) -> None:
        fairness["partitions"]["race"]["outcomes"]["Female"]["groups"]["Latino_Hispanic"]["status"]["rest"] = "ok"
    _edit(inputs, "small_cnn", change)
    key = "partitions.race.outcomes.Female.groups.Latino_Hispanic.status.rest"
    with pytest.raises(FairvisionError, match=re.escape(f"`{key}` must be one of reference, pass, fail, inconclusive")):
        render_reports(BACKBONES, **inputs)


@pytest.mark.parametrize("version", [None, 4, 6])
def test_other_schema_version_asks_to_rerun_the_audit(inputs: dict[str, Path], version: int | None) -> None:
    def change(fairness: dict[str, Any]) -> None:
        if version is None:
            del fairness["schema_version"]
        else:
            fairness["schema_version"] = version
    path = _edit(inputs, "small_cnn", change)
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: `schema_version` is {version!r}") + ".*"
                       + re.escape("rerun `fairvision audit`")):
        render_reports(BACKBONES, **inputs)


@pytest.mark.parametrize("backbones", [(), ("small_cnn", "small_cnn"), ("../small_cnn",), ("index",), ("",)])
def test_backbone_names_must_be_distinct_file_names(inputs: dict[str, Path], backbones: tuple[str, ...]) -> None:
    with pytest.raises(FairvisionError):
        render_reports(backbones, **inputs)
    assert not inputs["out_dir"].exists()


def _real_audit(root: Path, predictions: Any, datasheet: dict[str, Any], protected: tuple[str, ...],
                monkeypatch: pytest.MonkeyPatch, *, train_only: Any = None, **params: Any) -> dict[str, Path]:
    """The report's inputs with small_cnn's fairness.json written by the real audit stage (mobilenet_v2 hand-made).

    ``predictions``: one table (seed 0), or training seed -> table, audited as one procedure; the
    first seed's must be 0, whose training record ``write_inputs`` writes. The manifest's training
    split is the first table, plus ``train_only``'s rows (e.g. a group the test split lacks).
    """
    from fairvision.audit import stage
    from fairvision.params import Audit, Bootstrap, Dataset, Tolerance

    monkeypatch.setattr(stage, "crosscheck", lambda *args, **kwargs: None)  # AIF360's agreement: the audit's test
    prepared = root / "prepared"
    prepared.mkdir()
    tables = predictions if isinstance(predictions, dict) else {0: predictions}
    paths = {seed: root / f"predictions-seed-{seed}.parquet" for seed in tables}
    for seed, table in tables.items():
        table.to_parquet(paths[seed])
    train = next(iter(tables.values()))
    if train_only is not None:
        import pandas as pd

        train = pd.concat([train, train_only], ignore_index=True)
    train.assign(split="train").to_parquet(prepared / "manifest.parquet")
    (prepared / "datasheet.json").write_text(json.dumps(datasheet))
    settings = dict(favorable_label="auto", min_group_size=30, min_events=5,
                    bootstrap=Bootstrap(resamples=50, seed=0, level=0.95), multiple_comparisons="simultaneous",
                    tolerance=Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={}))
    inputs = write_inputs(root / "report")
    inputs["datasheet_path"].write_text(json.dumps(datasheet))
    dataset = Dataset(name=datasheet["dataset"], format="fairface", path="", padding=0.25,
                      target=datasheet["target"], protected=protected, intersections=params.pop("intersections", ()))
    stage.audit("small_cnn", paths, prepared, dataset, Audit(**(settings | params)),
                inputs["audits_dir"] / "small_cnn" / "fairness.json")
    return inputs


def test_renders_what_the_real_audit_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture above is hand-made; this guards against drift from the audit's own fairness.json."""
    import numpy as np

    from fairvision.audit.simulate import simulate_predictions

    sizes = {"White": 300, "Black": 280, "Latino_Hispanic": 290, MALICIOUS: 20}
    predictions = simulate_predictions(sizes, dict.fromkeys(sizes, 0.1) | {"Latino_Hispanic": 0.4}, seed=1)
    predictions["age"] = np.random.default_rng(0).choice(["20-29", "30-39", "more than 70"], len(predictions),
                                                         p=[0.6, 0.37, 0.03])
    inputs = _real_audit(tmp_path, predictions, _datasheet(), ("race", "age"), monkeypatch,
                         intersections=(("race", "age"),))

    render_reports(BACKBONES, **inputs)
    page = _page(inputs["out_dir"])
    assert "Latino_Hispanic" in _banner(page) and 'class="badge fail"' in _row(page, "Latino_Hispanic")
    assert 'class="badge insufficient_data"' in _row(page, MALICIOUS)
    assert "race × age" in page and "<script>alert" not in page


SCRIPT_LABEL = "<script>alert(1)</script>"
MARKUP_GROUP = "<b>x</b> & <i>y</i>"


def _pets(skin_tone: bool) -> tuple[Any, dict[str, Any]]:
    """80 test images of two labels, one a script tag; with a `skin_tone` column (a group with markup) if asked."""
    import pandas as pd

    labels = ["cat", SCRIPT_LABEL]
    truth = ["cat"] * 40 + [SCRIPT_LABEL] * 40
    predictions = pd.DataFrame({"id": [f"test/{i}" for i in range(80)], "label": truth,
                                "pred": ["cat"] * 30 + [SCRIPT_LABEL] * 10 + [SCRIPT_LABEL] * 35 + ["cat"] * 5})
    attributes = ["skin_tone"] if skin_tone else []
    if skin_tone:
        predictions["skin_tone"] = ["dark", MARKUP_GROUP] * 40
    counts = {"test": {"skin_tone": {"dark": {"cat": 20, SCRIPT_LABEL: 20},
                                     MARKUP_GROUP: {"cat": 20, SCRIPT_LABEL: 20}}} if skin_tone else {}}
    datasheet = {
        "dataset": "pets", "format": "cloud_annotations", "source": "data/raw/pets", "source_sha256": "cd34",
        "target": "label", "labels": labels, "attributes": attributes, "protected": attributes,
        "n_images": {"train": 0, "val": 0, "test": 80}, "rejected": 2, "unlabelled": 5,
        "counts": counts, "intersections": {"test": {}},
        "label_counts": {"train": {}, "val": {}, "test": {"cat": 40, SCRIPT_LABEL: 40}},
    }
    return predictions, datasheet


def test_without_protected_attributes_the_pages_say_why_and_show_per_label(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictions, datasheet = _pets(skin_tone=False)
    inputs = _real_audit(tmp_path, predictions, datasheet, (), monkeypatch)
    render_reports(BACKBONES, **inputs)
    out = inputs["out_dir"]
    page, index = _page(out), (out / "index.html").read_text()
    card = json.loads((out / "small_cnn.card.json").read_text())
    reason = card["verdict"]["group_fairness"]["reason"]
    assert card["verdict"]["overall"] == "not_measured" and "`protected` list in params.yaml is empty" in reason
    assert card["verdict"]["group_fairness"]["measured"] is False
    assert card["quantitative_analyses"]["differential_fairness"] is None
    banner = _banner(page)
    assert 'class="banner verdict-not_measured"' in banner and 'class="badge not_measured"' in banner
    assert str(escape(reason)) in banner and 'class="badge pass"' not in page
    assert page.count("Group fairness not measured") == 1 and "Differential fairness" not in page
    # Per label: cat is predicted 35 times, 30 rightly; it has 40 images, 30 found.
    row = re.search(r'<tr data-label="cat">.*?</tr>', page, re.S).group(0)
    assert '<td class="num">40</td>' in row and "0.86 [" in row and "0.75 [" in row
    assert f'<tr data-label="{escape(SCRIPT_LABEL)}">' in page
    verdicts = re.search(r"<tr><th scope=\"row\">Overall verdict</th>.*?</tr>", index, re.S).group(0)
    assert re.findall(r'class="badge (\w+)"', verdicts) == ["not_measured", "inconclusive"]
    assert "Group fairness not measured (small_cnn)" in index and str(escape(reason)) in index
    assert "0 unlabelled" not in index and "5 unlabelled images" in index and "2 images rejected" in index
    for html in (page, index):
        assert "<script>" not in html and "Data warnings" in html


def render_markup_pages(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The report of a custom attribute (`skin_tone`) whose group and one label are markup, audited for real
    (min_group_size 41: both groups are small); its folder. tests/test_report_browser.py opens the same pages."""
    predictions, datasheet = _pets(skin_tone=True)
    inputs = _real_audit(root, predictions, datasheet, ("skin_tone",), monkeypatch, min_group_size=41)
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


def test_a_custom_attribute_and_markup_in_labels_and_groups_reach_the_page_as_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = render_markup_pages(tmp_path, monkeypatch)
    page, index = _page(out), (out / "index.html").read_text()
    card = json.loads((out / "small_cnn.card.json").read_text())
    assert card["verdict"]["group_fairness"] == {"measured": True, "reason": None}
    assert card["factors"]["partitions"]["skin_tone"]["groups"] == [MARKUP_GROUP, "dark"]  # any value, sorted
    for html in (page, index):
        assert "<script>" not in html and "<b>x</b>" not in html
        assert str(escape(SCRIPT_LABEL)) in html and str(escape(MARKUP_GROUP)) in html
    warning = (f"test group skin_tone = {MARKUP_GROUP} has 40 images, fewer than audit.min_group_size (41): "
               "its metrics are reported but never judged")  # the audit's, after the markup passed through it
    assert warning in card["evaluation_data"]["warnings"]
    for html in (page, index):
        assert _small_groups(html, "skin_tone") == f"{escape(MARKUP_GROUP)} (40), dark (40)"
    assert 'class="badge not_measured"' not in page


def test_report_does_not_import_aif360_or_tensorflow() -> None:
    """The report reads fairness.json; it must not pay AIF360's import (which loads TensorFlow)."""
    import subprocess
    import sys

    code = ("import sys, fairvision.report.render; "
            "heavy = [m for m in ('aif360', 'tensorflow', 'keras') if m in sys.modules]; assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# --- Page weight, layout and safety (issue 22): the browser's view is tests/test_report_browser.py ---------------

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PAGE_LIMIT = 800_000  # bytes: a model card of the demo's shape (63 race × age groups, three explainers)


def test_every_page_carries_its_content_security_policy_and_no_script(reports: Path) -> None:
    """Nothing to fetch and nothing to run: a browser refuses any other source, and an injection could not run."""
    for page in reports.glob("*.html"):
        html = page.read_text()
        head = html[:html.index("<style>")]
        assert f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">' in head, page.name
        assert "<script" not in html.lower() and " on" not in re.sub(r'"[^"]*"|>[^<]*<', "", html), page.name


def _heat_map(rng: Any) -> Any:
    """A 64 px picture like an explainer's mean map: a heat scale of three blobs, half over a plain face."""
    import numpy as np
    from matplotlib import colormaps

    grid = np.mgrid[0:64, 0:64] / 64.0
    face = 0.35 + 0.4 * (((grid[0] - 0.45) / 0.35) ** 2 + ((grid[1] - 0.5) / 0.25) ** 2 < 1)
    heat = sum(np.exp(-((grid[0] - y) ** 2 + (grid[1] - x) ** 2) / 0.02) for y, x in rng.random((3, 2)))
    pixels = 0.5 * colormaps["inferno"](heat / heat.max())[..., :3] + 0.5 * face[..., np.newaxis]
    return (pixels * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def demo_shaped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder of a real audit shaped like the demo's (simulate.demo_population: 7 races × 9 ages, their
    63 intersections, two outcomes) and small_cnn's explanations of its 16 groups under three explainers."""
    import numpy as np
    from PIL import Image

    from fairvision.audit.simulate import AGES, RACES, Truth, demo_population
    from test_report_explanations import EXPLAINED, explanations

    population = demo_population(Truth(0.5, 0.85, 0.15), {"Latino_Hispanic": Truth(0.5, 0.5, 0.3),
                                                          "Indian": Truth(0.5, 0.97, 0.01)})
    with pytest.MonkeyPatch.context() as monkeypatch:  # "none": the demo's simultaneous intervals take seconds more
        inputs = _real_audit(tmp_path_factory.mktemp("demo-shaped"), population.draw(0), _datasheet(),
                             ("race", "age"), monkeypatch, train_only=population.train(),
                             intersections=(("race", "age"),), min_group_size=50, multiple_comparisons="none")
    record, folder = explanations(), inputs["audits_dir"] / EXPLAINED / "explanations"
    rng = np.random.default_rng(0)
    methods = {}
    for method in ("gradcam", "integrated_gradients", "lime"):
        attributes = {}
        for attribute, groups, reference in (("race", RACES, "White"), ("age", AGES, "20-29")):
            entries = {}
            for group in groups:
                name = f"{method}/{attribute}/{group.replace(' ', '_')}"
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_heat_map(rng)).save(folder / f"{name}.mean.png")
                Image.new("RGB", (8, 8)).save(folder / f"{name}.overlays.png")
                disparity = None if group == reference else {"value": 0.3, "ci": [0.2, 0.4], "p_value": 0.02,
                                                            "differs": True}
                entries[group] = {"n": 8, "n_correct": 7, "n_incorrect": 1, "disparity": disparity,
                                  "pictures": {"mean": f"{name}.mean.png", "overlays": f"{name}.overlays.png"}}
            attributes[attribute] = {"reference": reference, "reference_explained": True, "groups": entries}
        methods[method] = {"images": 128, "attributes": attributes,
                           "faithfulness": record["methods"]["gradcam"]["faithfulness"]}
    record |= {"methods": methods, "attributes": {"race": {"reference": "White"}, "age": {"reference": "20-29"}}}
    record["params"]["methods"] = list(methods)
    (folder / "explanations.json").write_text(json.dumps(record))
    render_reports(BACKBONES, **inputs)
    return inputs["out_dir"]


def test_stock_verdict_sentences_are_left_out_and_the_audits_own_words_kept(demo_shaped: Path) -> None:
    """A judged cell's tooltip only where it says what the cell, its column and the Metrics table do not."""
    page = _page(demo_shaped)
    card = json.loads((demo_shaped / "small_cnn.card.json").read_text())
    explanations = [result["explanation"] for partition in card["quantitative_analyses"]["partitions"].values()
                    for outcome in partition["outcomes"].values() for group in outcome["groups"].values()
                    for against in ("vs_reference", "vs_rest") if group[against] is not None
                    for result in group[against].values()]
    own = [text for text in explanations if text.startswith(("Not judged", "Not certified"))]
    tooltips = re.findall(r'<td class="num v-\w+" title="([^"]*)">', page)
    assert own and len(explanations) > 50 * len(own)  # Not certified (few events) among many stock sentences
    assert {str(escape(text)) for text in own} <= set(tooltips)
    assert len(tooltips) - len(own) < len(explanations) // 20  # stock sentences kept only where rounding differs


def test_a_page_of_the_demos_shape_weighs_under_the_limit(demo_shaped: Path) -> None:
    page = _page(demo_shaped)
    assert page.count("<img ") == 48 and page.count("data:image/jpeg;base64,") == 48
    assert page.count(' data-group="') == 7 + 9 + 63  # every group of every headline table is on it
    assert len(page.encode()) <= PAGE_LIMIT, len(page.encode())


def test_charts_grow_taller_never_wider_with_more_groups() -> None:
    """One horizontal bar per group: an intersection of 30 groups is as wide as a partition of 3."""
    from fairvision.report.plots import accuracy_chart

    def chart(groups: int) -> str:
        rows = {f"group {i:02}": {"n": 40, "status": {"reference": "pass"}, "rates": {"accuracy": _estimate(0.8)}}
                for i in range(groups)}
        return accuracy_chart(rows, 0.8, f"chart-{groups}")

    few, many = (re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', chart(n)).groups() for n in (3, 30))
    assert float(few[0]) == float(many[0]) and float(many[1]) > 3 * float(few[1]) > 300
    svg = chart(30)
    assert "group 29" in svg and "80.0% (n=40)" in svg
    assert not re.search(r"\d\.\d{3}", re.sub(r">[^<]*<", "><", svg))  # coordinates to 0.01 pt, text aside
    assert "<g/>" not in svg and not re.search(r"<g>(<path[^>]*/>|<text[^>]*>[^<]*</text>)</g>", svg)
    assert "rotate(-0 " not in svg


def test_mean_maps_are_inlined_as_jpeg_when_lighter_and_stay_close() -> None:
    """A map is sent as a JPEG a few levels from its PNG; a picture the JPEG would not shrink stays as it was."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from fairvision.report.plots import data_uri

    smooth = _heat_map(np.random.default_rng(1))
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="PNG")
    uri = data_uri(buffer.getvalue())
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < len(buffer.getvalue())
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"), dtype=int)
    error = np.abs(decoded - smooth)
    assert decoded.shape == smooth.shape and error.mean() < 2 and error.max() <= 20  # of 255, at an edge
    assert uri == data_uri(buffer.getvalue())  # the same picture, the same bytes
    flat = io.BytesIO()
    Image.new("RGB", (8, 8), (3, 128, 252)).save(flat, format="PNG")
    assert data_uri(flat.getvalue()) == "data:image/png;base64," + base64.b64encode(flat.getvalue()).decode()
