"""`dvc exp run -S ...` on a tiny copy of the pipeline: each experiment reruns only training and what
follows, and `dvc exp show` lists its accuracy and headline fairness numbers (headline.json)."""

from __future__ import annotations

import csv
import io

import pytest

from dvc_project import Project, copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, reproduced_project: Project) -> Project:
    return copy_project(reproduced_project, tmp_path_factory.mktemp("experiments") / "project")


def test_two_experiments_show_their_own_metrics(project: Project) -> None:
    first = project.dvc("exp", "run", "-n", "two-epochs", "-S", "train.epochs=2")
    assert "Running stage 'train@synthetic-small_cnn'" in first.stdout
    assert "Running stage 'prepare@synthetic'" not in first.stdout and "Running stage 'synth'" not in first.stdout
    second = project.dvc("exp", "run", "-n", "wider", "-S", "backbones.small_cnn.width=8")
    assert "Running stage 'train@synthetic-small_cnn'" in second.stdout

    table = list(csv.DictReader(io.StringIO(project.dvc("exp", "show", "--csv").stdout)))
    rows = {row["Experiment"]: row for row in table if row["Experiment"] in ("two-epochs", "wider")}
    assert set(rows) == {"two-epochs", "wider"}
    accuracy = "accuracy"  # headline.json's keys (DVC drops the file prefix while one metrics file has them)
    assert {accuracy, "verdict", "comparisons.fail", "worst_accuracy_gap.race", "train.epochs"} <= set(table[0])
    assert rows["two-epochs"]["train.epochs"] == "2" and rows["wider"]["backbones.small_cnn.width"] == "8"
    assert rows["two-epochs"][accuracy] != rows["wider"][accuracy]
    assert all(float(row[accuracy]) > 0 for row in rows.values())
