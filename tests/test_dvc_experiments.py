"""`dvc exp run -S ...` on a tiny copy of the pipeline: an experiment reruns only training and what
follows, and `dvc exp show` lists its own accuracy and headline fairness numbers (headline.json)
beside the committed baseline's."""

from __future__ import annotations

import csv
import io

import pytest

from dvc_project import Project, copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, reproduced_project: Project) -> Project:
    return copy_project(reproduced_project, tmp_path_factory.mktemp("experiments") / "project")


def test_an_experiment_shows_its_own_metrics_beside_the_baseline(project: Project) -> None:
    result = project.dvc("exp", "run", "-n", "two-epochs", "-S", "train.epochs=2")
    assert "Running stage 'train@synthetic-small_cnn-0'" in result.stdout
    assert "Running stage 'prepare@synthetic'" not in result.stdout and "Running stage 'synth'" not in result.stdout

    table = list(csv.DictReader(io.StringIO(project.dvc("exp", "show", "--csv").stdout)))
    experiment = next(row for row in table if row["Experiment"] == "two-epochs")
    baseline = next(row for row in table if row["typ"] == "baseline" and row["rev"] != "workspace")  # the commit
    accuracy = "accuracy"  # headline.json's keys (DVC drops the file prefix while one metrics file has them)
    assert {accuracy, "verdict", "comparisons.fail", "worst_accuracy_gap.race", "train.epochs"} <= set(table[0])
    assert experiment["train.epochs"] == "2" and baseline["train.epochs"] == "1"
    assert experiment[accuracy] != baseline[accuracy]
    assert float(experiment[accuracy]) > 0 and float(baseline[accuracy]) > 0
