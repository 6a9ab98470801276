"""`dvc status` reports exactly the stages a change touches, on a tiny copy of the real pipeline.

One knob at a time, from a reproduced pipeline: the stages whose own deps or params changed
are listed (DVC lists a downstream stage only once its inputs really change, which a retrain
with identical weights never does). Then a real rerun after a training change: the model's
hash moves only if its weights do, and the timings, kept out of it, never move it.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from dvc_project import Project, copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, reproduced_project: Project) -> Project:
    project = copy_project(reproduced_project, tmp_path_factory.mktemp("exact") / "project")
    assert project.changed_stages() == set()
    return project


def set_key(dotted: str, value: Any) -> Callable[[dict], None]:
    def change(params: dict) -> None:
        *parents, key = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[key] = value
    return change


TRAIN, EVALUATE, AUDIT = "train@synthetic-small_cnn-0", "evaluate@synthetic-small_cnn-0", "audit@synthetic-small_cnn"
EXPLAIN, DISCOVER = "explain@synthetic-small_cnn", "discover@synthetic-small_cnn"
PREPARE, REPORT = "prepare@synthetic", "report@synthetic"
DATASET = "datasets.synthetic"


def drop_age(params: dict) -> None:
    """Audit race only: the intersection and age's reference setting go with it."""
    params["datasets"]["synthetic"].update(protected=["race"], intersections=[], reference={"race": "auto"})


KNOBS = {
    "a backbone option": (set_key("backbones.small_cnn.width", 8), {TRAIN, REPORT}),
    "train.epochs": (set_key("train.epochs", 2), {TRAIN}),
    "evaluate.batch_size": (set_key("evaluate.batch_size", 64), {EVALUATE}),
    "a dataset's protected attributes": (drop_age, {PREPARE, AUDIT, DISCOVER, EXPLAIN}),
    "a dataset's reference group": (set_key(f"{DATASET}.reference.race", "White"), {AUDIT}),
    "a dataset's source": (set_key(f"{DATASET}.source.padding", 1.25), {PREPARE}),
    # discovery judges a cohort against the audit's bands, at its level, for its favourable label
    "audit tolerance": (set_key("audit.tolerance.difference", 0.05), {AUDIT, DISCOVER}),
    "audit.favorable_label": (set_key("audit.favorable_label", "Male"), {AUDIT, DISCOVER}),
    "a discover setting": (set_key("discover.fdr", 0.05), {DISCOVER}),
    # the report compares a mitigated backbone with its plain one with the audit's group size and bootstrap
    "audit.min_group_size": (set_key("audit.min_group_size", 7), {AUDIT, REPORT}),
    "a check-only setting": (set_key("check.difference_margin", 0.01), set()),
    "a Kubernetes manifest setting": (set_key("kubernetes.train.workers", 4), set()),
    "an explain setting": (set_key("explain.lime.samples", 30), {EXPLAIN}),
    "synth.seed": (set_key("synth.seed", 1), {"synth"}),
    # another training seed: its own train and evaluate, and the audit of every seed; seed 0's model, its
    # evaluation, the explanations and the cohorts (of the first seed) do not rerun
    "a second training seed": (set_key("train.seeds", [0, 1]),
                               {"train@synthetic-small_cnn-1", "evaluate@synthetic-small_cnn-1", AUDIT}),
}


@pytest.mark.parametrize("knob", list(KNOBS))
def test_one_knob_changes_exactly_its_stages(project: Project, knob: str) -> None:
    change, expected = KNOBS[knob]
    original = (project.path / "params.yaml").read_text(encoding="utf-8")
    params = project.params()
    change(params)
    project.write_params(params)
    try:
        assert project.changed_stages() == expected
    finally:
        (project.path / "params.yaml").write_text(original, encoding="utf-8")
    assert project.changed_stages() == set()


@pytest.mark.parametrize(("edited", "expected"), [
    ("src/fairvision/report/templates/base.html.j2", {REPORT}),
    ("src/fairvision/audit/headline.py", {AUDIT, REPORT}),  # the cards' verdict counts and badges use it too
    ("src/fairvision/models/predict.py", {EVALUATE}),
    ("src/fairvision/data/images.py", {PREPARE}),
    ("src/fairvision/explain/aggregate.py", {EXPLAIN}),
    ("src/fairvision/params.py", {"synth", PREPARE, TRAIN, EVALUATE, AUDIT, DISCOVER, EXPLAIN, REPORT}),
    # Stage boundaries: the audit's statistics retrain nothing, a new backbone re-reads no data, the storage
    # layer retrains nothing, a card's layout reruns only the report, and the shared CLI reruns nothing.
    ("src/fairvision/audit/measures.py", {AUDIT, DISCOVER, REPORT}),  # discovery's gaps are the audit's rates
    ("src/fairvision/audit/intervals.py", {AUDIT, REPORT}),
    ("src/fairvision/models/backbones.py", {TRAIN, EVALUATE, EXPLAIN, DISCOVER}),  # discovery embeds with the model
    ("src/fairvision/data/storage.py", {"synth", PREPARE}),
    ("src/fairvision/report/card.py", {REPORT}),
    ("src/fairvision/discover/engine.py", {DISCOVER}),  # the report reads cohorts.json through record.py alone
    ("src/fairvision/discover/record.py", {DISCOVER, REPORT}),
    ("src/fairvision/cli.py", set()),
])
def test_one_code_edit_changes_exactly_the_stages_that_run_it(project: Project, edited: str, expected: set) -> None:
    path = project.path / edited
    original = path.read_bytes()
    path.write_bytes(original + b"\n")
    try:
        assert project.changed_stages() == expected
    finally:
        path.write_bytes(original)
    (project.path / "src/fairvision/__pycache__").mkdir(exist_ok=True)
    (project.path / "src/fairvision/__pycache__/params.cpython-311.pyc").write_bytes(b"bytecode")
    assert project.changed_stages() == set()  # bytecode caches are ignored (.dvcignore)


def test_a_retrain_reruns_only_what_its_new_outputs_touch(project: Project) -> None:
    lock = (project.path / "dvc.lock").read_text(encoding="utf-8")
    result = project.dvc("repro", "--force", TRAIN)
    assert f"Running stage '{TRAIN}'" in result.stdout
    after = project.dvc("repro")
    # same seed, same data: identical weights, so evaluate and audit see unchanged inputs
    assert f"Running stage '{EVALUATE}'" not in after.stdout
    assert f"Running stage '{AUDIT}'" not in after.stdout
    assert project.changed_stages() == set()
    new_lock = (project.path / "dvc.lock").read_text(encoding="utf-8")
    models_hash = [line for line in lock.splitlines() if "models/synthetic/small_cnn" in line]
    assert models_hash and all(line in new_lock for line in models_hash)
