"""`fairvision check`, the fairness-regression gate, end to end: real audits, real CLI, real git + DVC.

The fixtures are simulated prediction tables audited by the real audit stage (once per module).
The scenario tests use 5,000 test images per race and ages drawn uniformly, without
intersections, so that each scenario's expected outcome is not a matter of luck. The rerun
property is tested separately at the published sizes (~500 per race, race × age,
``test_check_published.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fairvision.cli import main

ROOT = Path(__file__).resolve().parents[1]
RACES = ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern")
AGES = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
BACKBONE = "small_cnn"
RUN = f"synthetic/{BACKBONE}"  # audits/<dataset>/<backbone>
PREDICTIONS = "predictions/seed-0.parquet"  # the one seed's prediction table, in its audit folder
WORSENED = "Black"


def _params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["backbones"] = {BACKBONE: {"width": 16}}
    params["audit"]["bootstrap"]["resamples"] = 200
    params["datasets"]["synthetic"]["intersections"] = []
    params["check"]["training_noise"] = {}  # the scenarios test the paired bootstrap; allowances have their own tests
    return params


def simulate_predictions(sizes: dict[str, int], errors: dict[str, float], *, seed: int) -> pd.DataFrame:
    """Rows ``id, label, pred, race``: half of each race Female, predictions wrong with the race's error rate."""
    rng = np.random.default_rng(seed)
    race = np.repeat(list(sizes), list(sizes.values()))
    label = np.where(rng.random(len(race)) < 0.5, "Female", "Male")
    wrong = rng.random(len(race)) < np.array([errors[r] for r in race])
    pred = np.where(wrong, np.where(label == "Female", "Male", "Female"), label)
    return pd.DataFrame({"id": [f"sim/{i:06d}" for i in range(len(race))], "label": label, "pred": pred,
                         "race": race})


def _flip(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    flipped = table.copy()
    flipped.loc[mask, "pred"] = np.where(flipped.loc[mask, "pred"] == "Female", "Male", "Female")
    return flipped


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Audit folders (``<name>/synthetic/small_cnn/{predictions/seed-0.parquet,fairness.json}``) for every scenario."""
    from fairvision.audit.stage import audit
    from fairvision.params import load_params

    root = tmp_path_factory.mktemp("audits")
    (root / "params.yaml").write_text(yaml.safe_dump(_params()), encoding="utf-8")
    params = load_params(root / "params.yaml")
    errors = {race: 0.2 for race in RACES} | {"Latino_Hispanic": 0.3}
    base = simulate_predictions({race: 5000 for race in RACES}, errors, seed=1)
    rng = np.random.default_rng(7)
    base["age"] = rng.choice(AGES, len(base))
    prepared = root / "prepared"
    prepared.mkdir()
    pd.concat([base.assign(split="train"), base.assign(split="test")]).to_parquet(prepared / "manifest.parquet")
    (prepared / "datasheet.json").write_text(
        json.dumps({"dataset": "sim", "target": "gender", "labels": ["Female", "Male"]}), encoding="utf-8")

    right_in_group = (base["pred"] == base["label"]) & (base["race"] == WORSENED)
    tables = {
        "base": base,
        "rerun": _flip(base, rng.random(len(base)) < 0.01),  # the same model on another machine
        "worse": _flip(base, right_in_group.to_numpy() & (rng.random(len(base)) < 0.3)),
    }
    black = base["race"] == WORSENED
    tables |= {
        "unmeasured": base,  # audited with no protected attribute: per-label performance only
        "no_age": base,  # audited with `protected: [race]`: the age partition is gone
        "renamed": base.assign(race=base["race"].replace({WORSENED: "African"})),
        "never_selected": base.assign(pred=base["pred"].where(~black, "Male")),  # Black never predicted Female
        "subset": base.iloc[100:],
        "half": base.iloc[::2],
        "tiny": base.groupby("race").head(20),  # every group below min_group_size: nothing to judge
    }
    folders = {}
    for name, table in tables.items():
        folder = root / name / RUN
        folder.mkdir(parents=True)
        (folder / "predictions").mkdir()
        table.to_parquet(folder / PREDICTIONS)
        dataset = params.datasets["synthetic"]
        if name == "unmeasured":
            dataset = dataclasses.replace(dataset, protected=(), reference={}, intersections=())
        if name == "no_age":
            dataset = dataclasses.replace(dataset, protected=("race",), reference={"race": "auto"}, intersections=())
        audit(BACKBONE, {0: folder / PREDICTIONS}, prepared, dataset, params.audit, folder / "fairness.json")
        folders[name] = root / name
    folders["params"] = root / "params.yaml"
    return folders


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, audits: dict[str, Path]) -> Path:
    """A project folder with params.yaml; ``_use`` puts a scenario's audit in its ``audits/``."""
    shutil.copy(audits["params"], tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _use(workdir: Path, audits: dict[str, Path], name: str, *, predictions: bool = True) -> None:
    target = workdir / "audits" / RUN
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in ("fairness.json", PREDICTIONS) if predictions else ("fairness.json",):
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(audits[name] / RUN / file, target / file)


def _baseline_copy(workdir: Path, audits: dict[str, Path], name: str, *, predictions: bool = True) -> str:
    target = workdir / "baseline" / RUN
    target.mkdir(parents=True)
    for file in ("fairness.json", PREDICTIONS) if predictions else ("fairness.json",):
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(audits[name] / RUN / file, target / file)
    return "baseline"


def test_against_itself_nothing_regresses(workdir: Path, audits: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    assert main(["check", "--baseline", str(audits["base"])]) == 0
    out = capsys.readouterr().out
    assert "on 35000 shared image ids (0 only in the baseline, 0 only in the current" in out
    assert "REGRESSION" not in out and "INCONCLUSIVE" not in out
    assert "0 regressed, 0 inconclusive" in out


def test_rerun_with_a_few_flipped_predictions_passes(workdir: Path, audits: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "rerun")
    assert main(["check", BACKBONE, "--baseline", str(audits["base"])]) == 0
    assert "0 regressed, 0 inconclusive" in capsys.readouterr().out


def test_a_worsened_group_is_a_regression_named_in_the_output(workdir: Path, audits: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "worse")
    assert main(["check", "--baseline", str(audits["base"])]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert any(f"{RUN} · race · correct · {WORSENED} · error_rate_difference" in line for line in lines)
    assert all(f"· {WORSENED} ·" in line for line in lines if "· race ·" in line)  # no other race regressed
    assert out.splitlines()[-1].startswith("fairvision check: regression:")
    # Deterministic: the same inputs give the same report, byte for byte.
    assert main(["check", "--baseline", str(audits["base"])]) == 1
    assert capsys.readouterr().out == out


def test_paired_values_are_the_audits_values(workdir: Path, audits: dict[str, Path]) -> None:
    """The joint counts, marginalised, give back each audit's own point values (all ids shared)."""
    from fairvision.audit.check import CheckSettings, run_check
    from fairvision.params import load_params

    _use(workdir, audits, "worse")
    result = run_check([RUN], str(audits["base"]), CheckSettings.from_params(load_params()))
    sides = {side: json.loads((audits[name] / RUN / "fairness.json").read_text(encoding="utf-8"))
             for side, name in (("baseline", "base"), ("current", "worse"))}
    compared = 0
    for finding in result.runs[0].findings:
        for side, audit in sides.items():
            group = audit["partitions"][finding.partition]["outcomes"][finding.outcome]["groups"][finding.group]
            expected = group.get("vs_reference", {}).get(finding.metric, {}).get("value")
            if expected is not None and np.isfinite(getattr(finding, side)):
                assert getattr(finding, side) == pytest.approx(expected, abs=1e-6), (side, finding)
                compared += 1
    assert compared > 400


def test_markdown_has_a_table_row_for_the_regression(workdir: Path, audits: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "worse")
    assert main(["check", "--baseline", str(audits["base"]), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## ❌ Fairness check: regression")
    assert "### Regressions" in out
    assert f"| {RUN} | race | correct | {WORSENED} | error_rate_difference |" in out
    assert "paired bootstrap" in out


def test_unpaired_without_baseline_predictions_still_flags_a_large_regression(
        workdir: Path, audits: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "worse")
    baseline = _baseline_copy(workdir, audits, "base", predictions=False)
    assert main(["check", "--baseline", baseline]) == 1
    out = capsys.readouterr().out
    assert "unpaired" in out and "conservative" in out
    assert f"baseline/{RUN}/{PREDICTIONS} does not exist" in out
    assert f"· race · correct · {WORSENED} · error_rate_difference" in out
    # ...and an unpaired check of a model against itself finds nothing.
    _use(workdir, audits, "base", predictions=False)
    assert main(["check", "--baseline", str(audits["base"])]) == 0


def test_usage_errors_exit_3_naming_the_file(workdir: Path, audits: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    empty = workdir / "empty"
    empty.mkdir()
    assert main(["check", "--baseline", str(empty)]) == 3
    assert f"fairvision: error: {empty}/{RUN}/fairness.json: no such file" in capsys.readouterr().err

    assert main(["check", "--baseline", "no-such-revision-or-folder"]) == 3
    assert f"no-such-revision-or-folder:audits/{RUN}/fairness.json" in capsys.readouterr().err

    other = _baseline_copy(workdir, audits, "base")
    audit = json.loads((workdir / other / RUN / "fairness.json").read_text(encoding="utf-8"))
    (workdir / other / RUN / "fairness.json").write_text(json.dumps(audit | {"target": "race"}),
                                                             encoding="utf-8")
    assert main(["check", "--baseline", other]) == 3
    err = capsys.readouterr().err
    assert f"{other}/{RUN}/fairness.json and audits/{RUN}/fairness.json audit different evaluation" in err
    assert "`target`" in err

    assert main(["check", "mobilenet_v2", "--baseline", str(audits["base"])]) == 3  # not in params.yaml
    assert "mobilenet_v2" in capsys.readouterr().err
    assert main(["check", "--dataset", "faces", "--baseline", str(audits["base"])]) == 3  # not in params.yaml
    assert "dataset 'faces' is not in params.yaml `datasets` (synthetic)" in capsys.readouterr().err
    shutil.rmtree(workdir / "audits")
    assert main(["check", "--baseline", str(audits["base"])]) == 3
    assert f"audits/{RUN}/fairness.json: no such file" in capsys.readouterr().err


def test_predictions_sharing_no_id_are_a_usage_error(workdir: Path, audits: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    baseline = _baseline_copy(workdir, audits, "base")
    table = pd.read_parquet(workdir / baseline / RUN / PREDICTIONS)
    table.assign(id="other/" + table["id"]).to_parquet(workdir / baseline / RUN / PREDICTIONS)
    assert main(["check", "--baseline", baseline]) == 3
    assert "share no image id" in capsys.readouterr().err


def test_partial_overlap_is_reported(workdir: Path, audits: dict[str, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    assert main(["check", "--baseline", str(audits["subset"])]) == 0
    assert "on 34900 shared image ids (0 only in the baseline, 100 only in the current" in (
        capsys.readouterr().out)


def test_too_little_overlap_is_a_usage_error(workdir: Path, audits: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    assert main(["check", "--baseline", str(audits["half"])]) == 3
    err = capsys.readouterr().err
    assert "share 17500 image ids, 50% of the current's 35000: below 90%" in err


def test_predictions_that_are_not_the_audited_ones_are_a_usage_error(
        workdir: Path, audits: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    baseline = _baseline_copy(workdir, audits, "base")
    shutil.copy(audits["worse"] / RUN / PREDICTIONS, workdir / baseline / RUN / PREDICTIONS)
    assert main(["check", "--baseline", baseline]) == 3
    err = capsys.readouterr().err
    assert f"{baseline}/{RUN}/{PREDICTIONS} holds 35000 predictions with accuracy" in err
    assert f"but {baseline}/{RUN}/fairness.json audited 35000 with accuracy" in err and "different runs" in err
    shutil.copy(audits["subset"] / RUN / PREDICTIONS, workdir / baseline / RUN / PREDICTIONS)
    assert main(["check", "--baseline", baseline]) == 3
    assert "holds 34900 predictions" in capsys.readouterr().err


@pytest.mark.parametrize("broken, key", [
    ('"accuracy": NaN', "not valid JSON (NaN is not a JSON number"),
    ('"accuracy": Infinity', "not valid JSON (Infinity is not a JSON number"),
    ('"accuracy": "0.8"', "`accuracy` must be a finite number or null, got '0.8'"),
    ('"n": "35000"', "`n`"),
])
def test_a_broken_baseline_is_a_usage_error_naming_file_and_key(
        workdir: Path, audits: dict[str, Path], capsys: pytest.CaptureFixture[str], broken: str, key: str) -> None:
    _use(workdir, audits, "base")
    baseline = _baseline_copy(workdir, audits, "base", predictions=False)
    path = workdir / baseline / RUN / "fairness.json"
    text = path.read_text(encoding="utf-8")
    field = broken.split(":")[0]
    start = text.index(field + ": ")
    path.write_text(text[:start] + broken + text[text.index(",", start):], encoding="utf-8")
    assert main(["check", "--baseline", baseline]) == 3
    err = capsys.readouterr().err
    assert f"{baseline}/{RUN}/fairness.json" in err and key in err
    assert "Traceback" not in err


def test_a_dropped_attribute_is_inconclusive_naming_the_partition(
        workdir: Path, audits: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "no_age")
    assert main(["check", "--baseline", str(audits["base"])]) == 2
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("INCONCLUSIVE")]
    assert any(f"{RUN} · age · Female · (every) · (every): the baseline audited this partition" in line
               for line in lines), out
    assert "REGRESSION" not in out


def test_a_renamed_group_is_inconclusive(workdir: Path, audits: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "renamed")
    assert main(["check", "--baseline", str(audits["base"]), "--format", "markdown"]) == 2
    out = capsys.readouterr().out
    # The train split still has the old name, so the group is in the audit with no test image: not judged now.
    assert (f"| {RUN} | race | Female | {WORSENED} | disparate_impact | undefined | undefined | undefined | — | 0.095 "
            "| the baseline judged it (pass); not judged now: fewer than min_group_size 50 shared images (group 0, "
            "reference 5000) |") in out
    assert "| African |" not in out  # the renamed group's images are paired with their baseline predictions


def test_a_group_judged_before_and_not_now_is_inconclusive(workdir: Path, audits: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Unpaired, so that only the audits' own verdicts speak: the current audit no longer judges one group."""
    _use(workdir, audits, "base", predictions=False)
    path = workdir / "audits" / RUN / "fairness.json"
    current = json.loads(path.read_text(encoding="utf-8"))
    group = current["partitions"]["race"]["outcomes"]["Female"]["groups"][WORSENED]
    assert group["status"]["reference"] != "insufficient_data"  # the baseline (the same audit) judged it
    group["status"]["reference"] = "insufficient_data"
    path.write_text(json.dumps(current), encoding="utf-8")
    assert main(["check", "--baseline", str(audits["base"])]) == 2
    out = capsys.readouterr().out
    assert (f"INCONCLUSIVE {RUN} · race · Female · {WORSENED} · disparate_impact: the baseline judged it (" in out)
    assert "); not judged now: current: insufficient data (n = 5000)" in out


def test_nothing_judged_is_inconclusive(workdir: Path, audits: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "tiny")
    assert main(["check", "--baseline", str(audits["tiny"])]) == 2
    out = capsys.readouterr().out
    assert "Nothing could be judged" in out
    assert out.splitlines()[-1].startswith("fairvision check: inconclusive")


def test_a_disparate_impact_falling_to_zero_is_a_regression(workdir: Path, audits: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "never_selected")
    assert main(["check", "--baseline", str(audits["base"])]) == 1
    paired = capsys.readouterr().out
    _use(workdir, audits, "never_selected", predictions=False)
    assert main(["check", "--baseline", str(audits["base"])]) == 1
    unpaired = capsys.readouterr().out
    for out in (paired, unpaired):
        assert f"REGRESSION   {RUN} · race · Female · {WORSENED} · disparate_impact: " in out, out
        assert f"→ 0.000" in out


def test_without_group_fairness_there_is_nothing_to_regress(workdir: Path, audits: dict[str, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "unmeasured")
    assert main(["check", "--baseline", str(audits["unmeasured"])]) == 0
    out = capsys.readouterr().out
    assert f"{RUN}: group fairness not measured, nothing to compare (No protected attributes:" in out
    assert "the baseline measured it" not in out
    assert "no regression: 0 regressed, 0 inconclusive, 0 ok of 0 comparisons checked" in out
    # A change that stops measuring group fairness cannot show that it did not regress.
    assert main(["check", "--baseline", str(audits["base"]), "--format", "markdown"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("## ⚠️ Fairness check: inconclusive") and "the baseline measured it" in out


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _commit_baseline(workdir: Path, audits: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A git + DVC repository whose HEAD holds params.yaml and the base audit (predictions DVC-tracked)."""
    for variable, value in {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
                            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
                            "DVC_NO_ANALYTICS": "1"}.items():
        monkeypatch.setenv(variable, value)
    dvc = str(Path(sys.executable).with_name("dvc"))
    _use(workdir, audits, "base")
    _git(workdir, "init", "-q")
    subprocess.run([dvc, "init", "-q"], cwd=workdir, check=True, capture_output=True)
    subprocess.run([dvc, "add", "-q", f"audits/{RUN}/{PREDICTIONS}"], cwd=workdir, check=True,
                   capture_output=True)
    _git(workdir, "add", "-A")
    _git(workdir, "commit", "-q", "-m", "baseline audit")


def _set_param(workdir: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((workdir / "params.yaml").read_text(encoding="utf-8"))
    params[section][key] = value
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def test_a_pull_request_cannot_loosen_the_gate_that_checks_it(
        workdir: Path, audits: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As in CI: the base branch at a revision, the pull request in the working tree, through the real CLI."""
    _commit_baseline(workdir, audits, monkeypatch)
    _use(workdir, audits, "worse")  # a regression...
    _set_param(workdir, "check", "difference_margin", 0.5)  # ...that a wider margin would wave through
    _set_param(workdir, "check", "ratio_margin", 5.0)
    assert main(["check", "--baseline", "HEAD"]) == 3
    err = capsys.readouterr().err
    assert "this change loosens the gate that checks it: `check.difference_margin` is 0.5 in params.yaml but " \
           "0.05 in HEAD:params.yaml; `check.ratio_margin` is 5.0 in params.yaml but 0.1 in HEAD:params.yaml" in err

    _set_param(workdir, "check", "difference_margin", 0.05)
    _set_param(workdir, "check", "ratio_margin", 0.1)
    _set_param(workdir, "audit", "min_group_size", 6000)  # every race below it: nothing would be judged
    assert main(["check", "--baseline", "HEAD"]) == 3
    assert f"`audit.min_group_size` is 6000 in params.yaml but 50 in HEAD:audits/{RUN}/fairness.json" in (
        capsys.readouterr().err)

    _set_param(workdir, "audit", "min_group_size", 50)
    _set_param(workdir, "check", "difference_margin", 0.02)  # tightening is used at once
    assert main(["check", "--baseline", "HEAD"]) == 1
    assert "margins from params.yaml" in capsys.readouterr().out


def test_a_pull_request_cannot_raise_a_training_noise_allowance(
        workdir: Path, audits: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _commit_baseline(workdir, audits, monkeypatch)
    _use(workdir, audits, "worse")
    _set_param(workdir, "check", "training_noise", {"error_rate_difference": 0.5})
    assert main(["check", "--baseline", "HEAD"]) == 3
    assert ("`check.training_noise.error_rate_difference` is 0.5 in params.yaml but 0.0 in HEAD:params.yaml"
            in capsys.readouterr().err)


def test_a_single_runs_change_within_its_training_noise_is_inconclusive_saying_why(
        workdir: Path, audits: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Each side is one training run: a Δ that clears the margin but not the margin plus the metric's
    allowance could be training randomness alone, so it is inconclusive with the reason; past both, a
    regression."""
    from fairvision.audit.measures import COMPARISONS

    _use(workdir, audits, "worse")
    worsened = f"· race · correct · {WORSENED} · error_rate_difference"
    _set_param(workdir, "check", "training_noise", {metric: 10.0 for metric in COMPARISONS})
    assert main(["check", "--baseline", str(audits["base"])]) == 2
    out = capsys.readouterr().out
    assert "REGRESSION" not in out
    line = next(line for line in out.splitlines() if worsened in line)
    assert line.startswith("INCONCLUSIVE")
    assert "single training run on each side: training noise not measured" in line and "10.000" in line

    _set_param(workdir, "check", "training_noise", {"error_rate_difference": 10.0})  # the others: none
    assert main(["check", "--baseline", str(audits["base"])]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("INCONCLUSIVE") and worsened in line for line in lines)
    assert any(line.startswith("REGRESSION") and f"· {WORSENED} · error_rate_ratio" in line for line in lines)


def test_an_allowance_for_an_unknown_metric_is_a_usage_error(workdir: Path, audits: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _use(workdir, audits, "base")
    _set_param(workdir, "check", "training_noise", {"error_rate_diference": 0.1})
    assert main(["check", "--baseline", str(audits["base"])]) == 3
    assert "`check.training_noise.error_rate_diference` is not a metric; known: " in capsys.readouterr().err


def test_git_revision_baseline_through_dvc(workdir: Path, audits: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _commit_baseline(workdir, audits, monkeypatch)
    _use(workdir, audits, "worse")  # the working tree now holds a worse model's audit

    assert main(["check", "--baseline", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert "on 35000 shared image ids" in out  # predictions came from the DVC cache
    assert f"· race · correct · {WORSENED} · error_rate_difference" in out

    shutil.rmtree(workdir / ".dvc" / "cache")  # no cache, no remote: the baseline predictions are unobtainable
    assert main(["check", "--baseline", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert f"unpaired (HEAD:audits/{RUN}/{PREDICTIONS} could not be read" in out


def test_check_imports_neither_aif360_nor_tensorflow(workdir: Path, audits: dict[str, Path]) -> None:
    _use(workdir, audits, "base")
    script = ("import sys; from fairvision.cli import main; status = main(['check', '--baseline', sys.argv[1]]); "
              "heavy = [m for m in ('aif360', 'tensorflow', 'keras') if m in sys.modules]; "
              "print('heavy:', heavy); sys.exit(status or (3 if heavy else 0))")
    done = subprocess.run([sys.executable, "-c", script, str(audits["base"])], cwd=workdir, capture_output=True,
                          text=True, env=os.environ | {"PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "heavy: []" in done.stdout


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "1  a regression" in out and "2  inconclusive" in out
    assert "3  the check could not run" in out


@pytest.mark.parametrize("status, job, summary", [
    (0, 0, "report"), (1, 1, "report"), (2, 0, "report"), (3, 3, "could not run (exit 3)"),
])
def test_the_workflow_fails_the_job_on_a_regression_and_on_a_check_that_could_not_run(
        tmp_path: Path, status: int, job: int, summary: str) -> None:
    """The workflow's own check step, run by bash with a stand-in `fairvision` that exits with ``status``."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "fairness.yml").read_text(encoding="utf-8"))
    step = next(s for s in workflow["jobs"]["fairness-check"]["steps"] if s.get("name") == "Fairness regression check")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fairvision"
    fake.write_text(f"#!/bin/sh\necho report\necho 'fairvision: error: settings loosened' >&2\nexit {status}\n",
                    encoding="utf-8")
    fake.chmod(0o755)
    step_summary = tmp_path / "summary.md"
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "BASE_REF": "main",
                               "GITHUB_STEP_SUMMARY": str(step_summary)})
    assert done.returncode == job, done.stdout + done.stderr
    text = step_summary.read_text(encoding="utf-8")
    assert summary in text
    if status == 3:
        assert "fairvision: error: settings loosened" in text and "::error::" in done.stdout
