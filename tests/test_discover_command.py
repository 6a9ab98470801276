"""`fairvision discover B` in a project folder: the repository's params.yaml (a few keys changed), a datasheet and the
first seed's simulated predictions in, audits/<D>/<B>/cohorts.json out; bad settings and missing inputs are one line
naming the key or the file, written before any work and leaving no output.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fairvision.cli import main
from fairvision.discover import Cohort
from fairvision.discover.record import read_cohorts
from fairvision.discover.simulate import ATTRIBUTES, Plant
from params_file import write_params

OUT = Path("audits/synthetic/small_cnn/cohorts.json")
PLANT = Cohort.of(ATTRIBUTES, race="Black")  # one race of seven: large enough for the power rule at 4,000 rows
LABELS = {"yes": "Female", "no": "Male"}  # the simulation's labels as the synthetic dataset's (gender)
# simulated predictions have no model to embed them: tests/test_discover_embeddings_stage.py runs a trained one
NO_EMBEDDINGS = {"discover.embeddings.components": 0, "discover.embeddings.top": []}


def _predictions(rows: int = 4000) -> pd.DataFrame:
    """The first seed's prediction table as `evaluate` writes it: id, label, pred and every attribute column."""
    table = Plant(PLANT, 0.3).draw(rows, 9100)
    return table.assign(label=table["label"].map(LABELS), pred=table["pred"].map(LABELS))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding what the stage reads, as the working directory; params.yaml is the repository's."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, NO_EMBEDDINGS)
    prepared = tmp_path / "data/prepared/synthetic"
    prepared.mkdir(parents=True)
    datasheet = {"dataset": "synthetic", "target": "gender", "labels": ["Female", "Male"],
                 "attributes": ["race", "gender", "age", "service_test"], "protected": ["race", "age"]}
    (prepared / "datasheet.json").write_text(json.dumps(datasheet))
    predictions = tmp_path / "audits/synthetic/small_cnn/predictions/seed-0.parquet"
    predictions.parent.mkdir(parents=True)
    _predictions().to_parquet(predictions)
    return tmp_path


def discover(*args: str) -> int:
    return main(["discover", "small_cnn", *args])


def test_it_writes_cohorts_json_and_says_what_it_found(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fairvision"):
        assert discover() == 0
    written = json.loads(OUT.read_text(encoding="utf-8"))
    assert set(written) == {"schema_version", "attributes", "favorable_label", "split", "search", "selection",
                            "cohorts"}
    assert written["search"]["embeddings"] is None  # not searched: no model read, no pictures written
    # params.yaml's protected attributes, the audit's favourable label (`auto`: the datasheet's first), the defaults
    assert written["attributes"] == ["race", "age"] and written["favorable_label"] == "Female"
    assert written["split"]["explore_rows"] + written["split"]["confirm_rows"] == 4000
    assert written["search"]["mdss"]["subsets"] == 1 and written["selection"]["fdr"] == 0.1
    found = [r for r in written["cohorts"] if r["cohort"] == "race=Black" and r["selected"]]
    assert found and all(r["verdict"] == "fail" for r in found)
    selection = written["selection"]
    assert (f"discover: {selection['candidates']} candidates, {selection['selected']} selected -> {OUT}"
            in caplog.messages)
    assert len(read_cohorts(OUT).selected) == selection["selected"]  # what the report reads


def test_searching_the_embeddings_without_the_model_names_the_command_that_trains_it(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_params(project, {})  # the repository's params: the embeddings are searched
    assert discover() == 1
    assert "models/synthetic/small_cnn/seed-0/saved_model.pb" in capsys.readouterr().err
    assert not OUT.exists() and not OUT.parent.joinpath("cohort-examples").exists()


def test_the_same_inputs_write_the_same_bytes(project: Path) -> None:
    assert discover() == 0
    first = OUT.read_bytes()
    OUT.unlink()
    assert discover() == 0
    assert OUT.read_bytes() == first


def test_extra_columns_are_searched_beside_the_protected_attributes(project: Path) -> None:
    write_params(project, {**NO_EMBEDDINGS, "discover.extra_columns": ["service_test"], "discover.mdss.subsets": 0})
    assert discover() == 0
    assert json.loads(OUT.read_text(encoding="utf-8"))["attributes"] == ["race", "age", "service_test"]


@pytest.mark.parametrize(("change", "message"), [
    ({"discover.fdr": 1.5}, "params.yaml: `params.discover.fdr` must be a number in [1e-06, 0.999999], got 1.5"),
    ({"discover.colour": 1}, "params.yaml: unknown key `params.discover.colour`"),
    ({"discover": ...}, "params.yaml: missing `params.discover`"),
    ({"discover.extra_columns": ["skin_tone"]},
     "`discover.extra_columns` names 'skin_tone', which is not an attribute column of the dataset "
     "(data/prepared/synthetic/datasheet.json lists race, gender, age, service_test"),
    ({"discover.extra_columns": ["gender"]}, "`discover.extra_columns` names 'gender', which is the dataset's target"),
    ({"discover.extra_columns": ["age"]}, "`discover.extra_columns` names 'age', which is a protected attribute"),
    ({"audit.favorable_label": "Other"}, "params.yaml: `audit.favorable_label` 'Other' is not a label; labels: "
                                         "Female, Male"),
])
def test_a_bad_setting_is_one_line_naming_the_key(project: Path, capsys: pytest.CaptureFixture[str],
                                                  change: dict[str, Any], message: str) -> None:
    write_params(project, {**NO_EMBEDDINGS, **change})
    assert discover() == 1
    assert message in capsys.readouterr().err
    assert not OUT.exists()


@pytest.mark.parametrize("seeds", [[0], [3, 0]])
def test_a_missing_prediction_table_is_named_with_the_command_that_makes_it(
        project: Path, capsys: pytest.CaptureFixture[str], seeds: list[int]) -> None:
    write_params(project, {**NO_EMBEDDINGS, "train.seeds": seeds})
    (project / "audits/synthetic/small_cnn/predictions/seed-0.parquet").rename(
        project / f"audits/synthetic/small_cnn/predictions/seed-{seeds[0] + 1}.parquet")
    assert discover() == 1
    first = seeds[0]  # the first seed's table, whatever the others
    assert (f"audits/synthetic/small_cnn/predictions/seed-{first}.parquet: not found; run `fairvision evaluate "
            f"small_cnn --dataset synthetic --seed {first}` first") in capsys.readouterr().err
    assert not OUT.exists()


def test_a_missing_datasheet_is_named_with_the_command_that_makes_it(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "data/prepared/synthetic/datasheet.json").unlink()
    assert discover() == 1
    assert ("data/prepared/synthetic/datasheet.json: not found; run `fairvision prepare --dataset synthetic` first"
            in capsys.readouterr().err)


def test_missing_attribute_values_are_refused_naming_the_column(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "audits/synthetic/small_cnn/predictions/seed-0.parquet"
    table = pd.read_parquet(path)
    table.loc[:2, "age"] = None
    table.to_parquet(path)
    assert discover() == 1
    assert (f"{Path('audits/synthetic/small_cnn/predictions/seed-0.parquet')}: missing values in `age` (3 of 4000 "
            "rows)") in capsys.readouterr().err
    assert not OUT.exists()


def test_help_names_the_stage_and_its_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["--help"])
    assert exit_status.value.code == 0 and "discover B  -> audits/<D>/<B>/cohorts.json" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        discover("--help")
    assert "Writes audits/<D>/<B>/cohorts.json" in capsys.readouterr().out
