"""params.yaml's `discover` section and the stage function: errors name the key; the stage writes cohorts.json."""

from __future__ import annotations

import json

import pytest

from fairvision.discover.options import discover_options
from fairvision.discover.simulate import ATTRIBUTES, FAVORABLE, LABELS, PROTECTED, Plant
from fairvision.discover.stage import discover_stage
from fairvision.discover import Cohort
from fairvision.errors import FairvisionError
from fairvision.params import Audit, Bootstrap, Section, Tolerance

AUDIT = Audit(favorable_label="auto", min_group_size=50, min_events=5, bootstrap=Bootstrap(1000, 0, 0.95),
              multiple_comparisons="simultaneous", tolerance=Tolerance(difference=0.1, ratio=(0.8, 1.25), metrics={}))
SECTION = {"fdr": 0.1, "procedure": "bh", "false_alarm": 0.05, "max_candidates": 50, "max_order": 3, "power": 0.8,
           "min_cohort_size": "auto", "metrics": ["error_rate_difference", "false_negative_rate_difference"],
           "extra_columns": ["service_test"], "mdss": {"subsets": 0, "iterations": 10, "penalty": 1.0},
           "embeddings": {"components": 0, "dimensions": 16, "error_weight": 10, "top": []}, "seed": 4}


def parse(**changes: object):
    return discover_options(Section({**SECTION, **changes}, "params.discover", "params.yaml"), AUDIT)


def test_the_section_becomes_settings() -> None:
    settings, extra = parse()
    assert extra == ("service_test",)
    assert (settings.fdr, settings.seed, settings.min_cohort_size, settings.level) == (0.1, 4, None, 0.95)
    assert settings.bands["error_rate_difference"].high == 0.1
    assert parse(false_alarm=None, min_cohort_size=300)[0].false_alarm is None
    assert not settings.uses_embeddings  # components 0 and no shares: the stage never loads the model
    searched = parse(embeddings={"components": 6, "dimensions": 8, "error_weight": 0, "top": [0.1, 0.25]})[0]
    assert (searched.embedding_components, searched.embedding_dimensions, searched.embedding_error_weight,
            searched.embedding_shares, searched.uses_embeddings) == (6, 8, 0.0, (0.1, 0.25), True)


@pytest.mark.parametrize("key, value, words", [
    ("procedure", "holm", "params.discover.procedure"), ("max_order", 4, "discover.max_order"),
    ("metrics", ["disparate_impact"], "discover.metrics"), ("seed", -1, "params.discover.seed"),
    ("extra_columns", ["a", "a"], "params.discover.extra_columns"), ("colour", 1, "unknown key"),
    ("embeddings", {"components": -1, "dimensions": 16, "error_weight": 10, "top": []},
     "params.discover.embeddings.components"),
    ("embeddings", {"components": 8, "dimensions": 0, "error_weight": 10, "top": []},
     "params.discover.embeddings.dimensions"),
    ("embeddings", {"components": 8, "dimensions": 16, "error_weight": 10, "top": [1.5]},
     "params.discover.embeddings.top"),
    ("embeddings", {"components": 8, "dimensions": 16, "error_weight": 10, "top": [0.1, 0.1]},
     "params.discover.embeddings.top"),
    ("embeddings", {"components": 8, "dimensions": 16, "error_weight": 10, "top": [], "pca": 4},
     "unknown key `params.discover.embeddings.pca`"),
])
def test_errors_name_the_key(key: str, value: object, words: str) -> None:
    with pytest.raises(FairvisionError, match=words):
        parse(**{key: value})


def test_the_stage_writes_every_candidate_and_the_selected_with_verdicts(tmp_path) -> None:
    plant = Cohort.of(ATTRIBUTES, race="Indian", gender="Female")
    Plant(plant, 0.3).draw(10_000, 7800).to_parquet(tmp_path / "predictions.parquet")
    settings, extra = parse()
    discover_stage(tmp_path / "predictions.parquet", tmp_path / "cohorts.json", labels=LABELS, favorable=FAVORABLE,
                   protected=PROTECTED, extra_columns=extra, settings=settings)
    written = json.loads((tmp_path / "cohorts.json").read_text())
    assert written["split"]["explore_rows"] + written["split"]["confirm_rows"] == 10_000
    assert len(written["cohorts"]) == written["selection"]["candidates"] <= 50
    found = [r for r in written["cohorts"] if r["cohort"] == "race=Indian × gender=Female" and r["selected"]]
    assert found and all(r["verdict"] == "fail" and r["lineage"] == "own" for r in found)
    with pytest.raises(FairvisionError, match="predictions.parquet"):
        discover_stage(tmp_path / "predictions.parquet", tmp_path / "x.json", labels=("a", "b"), favorable="a",
                       protected=PROTECTED, extra_columns=(), settings=settings)
