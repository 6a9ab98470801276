"""The Kubeflow pipeline: compiled from params.yaml and current, and run locally (kfp.local, every step a
subprocess) to the very files `dvc repro` writes.

The local run and the DVC project train on the same machine, so their models and audits must be byte-identical;
only wall-clock facts (timings, the report's speed figures) may differ.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dvc_project import TIMED, Project
from fairvision.errors import FairvisionError
from fairvision.params import load_params
from fairvision.pipeline.k8s_params import load_kubernetes
from fairvision.pipeline.steps import PARAMS_FILE, matrix_of, write_params
from params_file import write_params as write_params_file

ROOT = Path(__file__).resolve().parents[1]


def fairvision(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                        "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "fairvision.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_committed_pipeline_is_a_fresh_compile_and_loads_with_kfp(tmp_path: Path) -> None:
    from kfp import components

    fresh = tmp_path / "pipeline.yaml"
    result = fairvision("pipeline", "compile", "--out", str(fresh), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert fresh.read_text(encoding="utf-8") == (ROOT / "k8s/pipeline.yaml").read_text(encoding="utf-8"), (
        "k8s/pipeline.yaml is stale: run `fairvision pipeline compile`")
    pipeline = components.load_component_from_file(str(ROOT / "k8s/pipeline.yaml"))
    assert pipeline.name == "fairvision"
    inputs = pipeline.component_spec.inputs
    assert sorted(inputs) == ["job_timeout", "params", "training"] and inputs["training"].default == "pod"
    spec, platform = yaml.safe_load_all(fresh.read_text(encoding="utf-8"))  # the pipeline; its workspace volume
    kubernetes = load_kubernetes(ROOT / "params.yaml")
    workspace = platform["platforms"]["kubernetes"]["pipelineConfig"]["workspace"]
    assert workspace["size"] == kubernetes.workspace
    assert workspace["kubernetes"]["pvcSpecPatch"] == {"accessModes": [kubernetes.workspace_access_mode]}
    params = load_params(ROOT / "params.yaml")
    trains = [name for name in spec["root"]["dag"]["tasks"] if name.startswith("train")]
    assert len(trains) == len(params.datasets) * len(params.backbones) * len(params.train.seeds)
    images = {executor["container"]["image"] for executor in spec["deploymentSpec"]["executors"].values()}
    assert images == {kubernetes.image}
    assert spec["defaultPipelineRoot"] == kubernetes.pipeline_root


def test_the_local_run_writes_what_dvc_repro_writes(reproduced_project, tmp_path: Path) -> None:
    """The same params.yaml through `fairvision pipeline run --local` and through `dvc repro` (the tiny project)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "params.yaml").write_bytes((reproduced_project.path / "params.yaml").read_bytes())
    result = fairvision("pipeline", "run", "--local", "--workspace", str(workspace), "--params",
                        str(workspace / "params.yaml"), cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for step in ("validate", "synth", "prepare", "train", "evaluate", "audit", "explain", "report"):
        assert f"Task '{step}' finished with status SUCCESS" in _plain(result.stdout + result.stderr)

    dvc_outputs = reproduced_project.outputs()
    assert "audits/synthetic/small_cnn/fairness.json" in dvc_outputs
    assert Project(workspace).outputs() == dvc_outputs  # the same files, none missing, none extra
    for name in dvc_outputs:
        if not name.startswith(TIMED):
            assert (workspace / name).read_bytes() == (reproduced_project.path / name).read_bytes(), name
    kept = workspace / ".fairvision" / "kfp"
    metrics = [p for p in kept.rglob("executor_output.json") if p.parent.name == "audit"]
    assert metrics and '"accuracy"' in metrics[0].read_text(encoding="utf-8")


def test_a_run_validates_its_params_before_any_step_and_names_the_key(tmp_path: Path) -> None:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    matrix = matrix_of(load_params(ROOT / "params.yaml"))
    with pytest.raises(FairvisionError, match=r"train\.epochs"):
        write_params(str(tmp_path), text.replace("epochs: 4 ", "epochs: four "), matrix)
    assert not (tmp_path / PARAMS_FILE).exists()
    with pytest.raises(FairvisionError, match=r"its backbones are \['small_cnn'\], but the pipeline was compiled "
                                              r"for .*fairvision pipeline compile"):
        write_params(str(tmp_path), yaml.safe_dump(yaml.safe_load(text) | {"backbones": {"small_cnn": {}}}),
                     matrix)
    assert not (tmp_path / PARAMS_FILE).exists()
    assert write_params(str(tmp_path), text, matrix) == str(PARAMS_FILE)
    assert (tmp_path / PARAMS_FILE).read_text(encoding="utf-8") == text


def test_run_without_local_says_how_to_run_on_kubeflow(tmp_path: Path) -> None:
    result = fairvision("pipeline", "run", cwd=ROOT)
    assert result.returncode == 1
    assert "runs only --local here; on Kubeflow, upload k8s/pipeline.yaml" in result.stderr


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("endpoint", [None, "http://minio.storage:9000"])
def test_the_prepare_steps_read_s3_with_the_secret_and_endpoint_of_params(tmp_path: Path, endpoint: str | None) -> None:
    """Only the prepare steps read S3 (an `s3://` dataset source): they alone get the Secret, optional so that a run
    on the synthetic data needs none, and a non-AWS server's address."""
    from fairvision.pipeline.compile import compile_pipeline

    params = write_params_file(tmp_path, {"kubernetes.storage.endpoint": endpoint})
    out = tmp_path / "pipeline.yaml"
    compile_pipeline(params, load_kubernetes(params), out)
    spec, platform = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    prepares = {name for name in spec["deploymentSpec"]["executors"] if name.startswith("exec-prepare")}
    assert prepares and set(executors) == prepares
    for name in prepares:
        (secret,) = executors[name]["secretAsEnv"]
        assert secret["secretName"] == "fairvision-s3" and secret["optional"] is True
        assert {pair["envVar"] for pair in secret["keyToEnv"]} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        env = spec["deploymentSpec"]["executors"][name]["container"].get("env", [])
        assert env == ([] if endpoint is None else [{"name": "AWS_ENDPOINT_URL", "value": endpoint}])
