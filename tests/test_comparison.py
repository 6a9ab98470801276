"""The comparison page's numbers (report/comparison.py): the accuracy–fairness front and the effect of mitigation.

The front is checked on hand-made cards; the effect of mitigation on audits of simulated prediction tables, where
what the variant changed is known: fewer errors in the failing group, none, or more.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from fairvision.report.comparison import Effect, effect_settings, front, mitigations, wilson

ROOT = Path(__file__).resolve().parents[1]
RACES = ("White", "Black", "Latino_Hispanic", "East Asian")
METRIC = "error_rate_difference"


def card(accuracy: float, gaps: dict[str, tuple[float, float, float]], n: int = 1000,
         failing: dict[str, Any] | None = None) -> dict[str, Any]:
    """A card whose headline outcome compares each group of ``gaps`` (value, low, high) with the reference."""
    groups = {group: {"vs_reference": {METRIC: {"value": v, "ci": [lo, hi]}, "disparate_impact":
                                       {"value": math.exp(v), "ci": [math.exp(lo), math.exp(hi)]}}}
              for group, (v, lo, hi) in gaps.items()}
    return {"verdict": {"group_fairness": {"measured": True}, "headline_outcome": "Female",
                        "failing": failing or {"race": {}}},
            "quantitative_analyses": {"overall_accuracy": accuracy, "n": n, "headline_outcome": "Female",
                                      "key_metrics": [METRIC, "disparate_impact"],
                                      "partitions": {"race": {"outcomes": {"Female": {"groups": groups}}}}}}


def test_the_front_holds_the_backbones_no_other_beats_on_both_axes() -> None:
    planes = front({
        "accurate": card(0.90, {"Black": (0.20, 0.10, 0.30)}),
        "fair": card(0.80, {"Black": (-0.02, -0.08, 0.04)}),
        "dominated": card(0.79, {"Black": (0.05, 0.0, 0.1), "White": (-0.25, -0.3, -0.2)}),
    })
    by_name = {point.backbone: point for point in planes[METRIC]}
    assert {name for name, point in by_name.items() if point.on_front} == {"accurate", "fair"}
    worst = by_name["dominated"]
    assert (worst.gap, worst.gap_ci, worst.group) == (0.25, (0.2, 0.3), "White (race)")  # |d|, worst group
    assert by_name["fair"].gap_ci == (0.0, 0.08)  # straddles parity: 0 at the near end
    ratio = {point.backbone: point for point in planes["disparate_impact"]}["accurate"]
    assert ratio.gap == pytest.approx(0.2) and ratio.gap_ci == pytest.approx((0.1, 0.3))  # |ln r|


def test_wilson_interval_holds_the_share_and_narrows_with_n() -> None:
    low, high = wilson(0.9, 100)
    assert low < 0.9 < high and (low, high) == pytest.approx((0.8256, 0.9448), abs=1e-4)
    assert wilson(1.0, 50)[1] == pytest.approx(1.0) and wilson(0.0, 50)[0] == pytest.approx(0.0)
    assert wilson(0.9, 10_000)[1] - wilson(0.9, 10_000)[0] < high - low


def simulate(errors: dict[str, float], seed: int) -> pd.DataFrame:
    """One model's predictions of the same test images (labels drawn once), wrong at each race's error rate."""
    race = np.repeat(RACES, 1500)
    label = np.where(np.random.default_rng(0).random(len(race)) < 0.5, "Female", "Male")
    wrong = np.random.default_rng(seed).random(len(race)) < np.array([errors[r] for r in race])
    return pd.DataFrame({"id": [f"sim/{i:06d}" for i in range(len(race))], "label": label,
                         "pred": np.where(wrong, np.where(label == "Female", "Male", "Female"), label), "race": race})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with params.yaml and audits/sim/<B> of four backbones: the plain one, whose
    Latino_Hispanic errors twice as often; a variant that fixes that, one that changes nothing, one that worsens it."""
    from fairvision.audit.stage import audit
    from fairvision.params import load_params

    root = tmp_path_factory.mktemp("comparison")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["audit"]["bootstrap"]["resamples"] = 200
    params["datasets"]["synthetic"]["intersections"] = []
    params["datasets"]["synthetic"]["protected"] = ["race"]
    params["datasets"]["synthetic"]["reference"] = {"race": "White"}
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    loaded = load_params(root / "params.yaml")
    base = simulate({race: 0.15 for race in RACES} | {"Latino_Hispanic": 0.3}, seed=1)
    fixed = simulate({race: 0.15 for race in RACES}, seed=2)
    tables = {"cnn": base, "cnn+fixed": base.where(base["race"] != "Latino_Hispanic", fixed),
              "cnn+same": base, "cnn+worse": simulate({race: 0.15 for race in RACES} | {"Latino_Hispanic": 0.45}, 3)}
    prepared = root / "prepared"
    prepared.mkdir()
    pd.concat([base.assign(split="train"), base.assign(split="test")]).to_parquet(prepared / "manifest.parquet")
    (prepared / "datasheet.json").write_text('{"dataset": "sim", "target": "gender", "labels": ["Female", "Male"]}')
    for name, table in tables.items():
        folder = root / "audits" / "sim" / name
        (folder / "predictions").mkdir(parents=True)
        table.to_parquet(folder / "predictions" / "seed-0.parquet")
        audit(name, {0: folder / "predictions" / "seed-0.parquet"}, prepared, loaded.datasets["synthetic"],
              loaded.audit, folder / "fairness.json")
    return root


def test_each_variant_is_compared_with_its_plain_backbone_on_the_failing_groups(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fairvision.params import load_params

    monkeypatch.chdir(project)
    failing = {"race": {"Latino_Hispanic": {"Female": ["reference"]}}}
    cards = {name: card(0.8, {}, failing=failing) for name in ("cnn", "cnn+fixed", "cnn+same", "cnn+worse", "vit")}
    found = {m.variant: m for m in mitigations(project / "audits" / "sim", cards,
                                               effect_settings(load_params("params.yaml").audit))}
    assert set(found) == {"cnn+fixed", "cnn+same", "cnn+worse"} and all(m.arch == "cnn" for m in found.values())

    def effect(variant: str) -> Effect:
        (only,) = [e for e in found[variant].effects if e.metric == METRIC]
        assert (only.partition, only.group) == ("race", "Latino_Hispanic")
        return only

    assert effect("cnn+fixed").high < 0 and effect("cnn+fixed").words == "fairer: the gap shrank"
    assert effect("cnn+same").words == "no prediction in the comparison changed"
    assert effect("cnn+worse").low > 0 and effect("cnn+worse").words == "less fair: the gap grew"
    assert {e.metric for m in found.values() for e in m.effects} <= {METRIC, "disparate_impact"}


def test_nothing_failing_on_either_side_compares_nothing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fairvision.params import load_params

    monkeypatch.chdir(project)
    cards = {name: card(0.8, {}) for name in ("cnn", "cnn+fixed")}
    (mitigation,) = mitigations(project / "audits" / "sim", cards, effect_settings(load_params("params.yaml").audit))
    assert mitigation.effects == ()
