"""The Elyra pipeline (elyra/fairvision.pipeline): valid for Elyra, one node per dvc.yaml stage in dependency order
on the project's image, each running dvc.yaml's expansions of its stage, and run locally (`elyra-pipeline run`) to
the very files `dvc repro` writes.

Elyra runs on the tests' machine and project only: its settings, caches and the stages' own (Keras, matplotlib)
go to a temporary HOME and Jupyter folders, nothing is fetched, and a moto S3 server on 127.0.0.1 stands in for
the object storage a Kubeflow submission uploads to.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dvc_project import TIMED, Project, merge
from fairvision.pipeline.k8s_params import load_kubernetes
from fairvision.pipeline.nodes import PROJECT_VARIABLE, project_root, run_node, stage_commands

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "elyra" / "fairvision.pipeline"


def elyra(tool: str, *args: str, cwd: Path, home: Path, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`elyra-pipeline ARGS` (or another of Elyra's commands) in ``cwd``, with HOME and Jupyter's folders under
    ``home``."""
    binary = Path(sys.executable).parent / tool
    assert binary.is_file(), f"no {binary}: Elyra is installed from requirements-elyra.lock (`make test` does)"
    (home / "jupyter-runtime").mkdir(parents=True, exist_ok=True)  # Elyra's component cache watches it
    env = {name: value for name, value in os.environ.items() if name != PROJECT_VARIABLE} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"), "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([str(binary), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def chain(pipeline: dict) -> list[dict]:
    """The pipeline's nodes from its first to its last, each linked to the one before (and only to it)."""
    nodes = pipeline["pipelines"][0]["nodes"]
    parents = {node["id"]: [link["node_id_ref"] for port in node["inputs"] for link in port.get("links", [])]
               for node in nodes}
    ordered = [node for node in nodes if not parents[node["id"]]]
    assert len(ordered) == 1, f"the pipeline has {len(ordered)} first nodes; it is one chain, stage after stage"
    while children := [node for node in nodes if parents[node["id"]] == [ordered[-1]["id"]]]:
        assert len(children) == 1, f"{len(children)} nodes follow {ordered[-1]['id']}: it is one chain"
        ordered.append(children[0])
    assert len(ordered) == len(nodes), "some nodes are not on the chain from the first node"
    return ordered


def missing_nodes(stages: list[str], pipeline: dict) -> list[str]:
    """The stages (dvc.yaml's top-level keys) that no node of ``pipeline`` is labelled with."""
    labels = {node["app_data"]["label"] for node in pipeline["pipelines"][0]["nodes"]}
    return [stage for stage in stages if stage not in labels]


def test_elyra_validates_the_pipeline(tmp_path: Path) -> None:
    result = elyra("elyra-pipeline", "validate", "elyra/fairvision.pipeline", cwd=ROOT, home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Pipeline validation SUCCEEDED" in result.stdout


def test_every_dvc_stage_is_a_node_in_order_running_its_stage_on_the_projects_image() -> None:
    stages = list(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    pipeline = json.loads(PIPELINE.read_text(encoding="utf-8"))
    assert missing_nodes(stages, pipeline) == [], "dvc.yaml stages without a node in elyra/fairvision.pipeline"
    assert missing_nodes([*stages, "calibrate"], pipeline) == ["calibrate"]  # a stage dvc.yaml gains fails it
    nodes = chain(pipeline)
    assert [node["app_data"]["label"] for node in nodes] == stages  # dvc.yaml lists them in dependency order
    image = load_kubernetes(ROOT / "params.yaml").image
    for node in nodes:
        stage, parameters = node["app_data"]["label"], node["app_data"]["component_parameters"]
        assert parameters["filename"] == f"{stage}.py" and parameters["runtime_image"] == image, stage
        script = (PIPELINE.parent / parameters["filename"]).read_text(encoding="utf-8")
        assert f'raise SystemExit(run_node("{stage}", __file__))' in script, stage


def test_each_node_runs_what_dvc_yaml_expands_for_its_stage(tmp_path: Path) -> None:
    """Two datasets and two seeds: every expansion, in dvc.yaml's order, as DVC's own parser makes it."""
    from dvc.repo import Repo

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = merge(params, {"datasets": params["datasets"] | {"other": params["datasets"]["synthetic"]},
                            "train": {"seeds": [3, 1]}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    with Repo.init(str(tmp_path), no_scm=True) as repo:
        commands = [shlex.split(stage.cmd) for stage in repo.index.stages]
    datasets, backbones, seeds = 2, len(params["backbones"]), 2
    assert len(commands) == 1 + datasets + 2 * datasets * backbones * seeds + 3 * datasets * backbones + datasets
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]:
        assert stage_commands(stage, tmp_path) == [command for command in commands
                                                   if command[:3] == ["python", "-m", f"fairvision.commands.{stage}"]]


def test_elyra_exports_it_for_kubeflow_pipelines_one_task_per_stage_on_the_projects_image(s3_server,
                                                                                       tmp_path: Path) -> None:
    """What `elyra-pipeline submit` sends, without a cluster: the KFP pipeline Elyra compiles, and each node's
    script uploaded to object storage (a moto S3 server standing in for the runtime configuration's COS)."""
    from kfp import components

    bucket = s3_server.bucket()
    created = elyra("elyra-metadata", "create", "runtimes", "--schema_name=kfp", "--name=stand-in",
                    "--display_name=stand-in", "--api_endpoint=http://127.0.0.1:9/pipeline",
                    f"--cos_endpoint={s3_server.endpoint}", f"--cos_bucket={bucket}",
                    "--cos_auth_type=USER_CREDENTIALS", "--cos_username=testing", "--cos_password=testing-secret",
                    cwd=tmp_path, home=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    exported = tmp_path / "fairvision.yaml"
    result = elyra("elyra-pipeline", "export", "--runtime-config=stand-in", f"--output={exported}",
                   "elyra/fairvision.pipeline", cwd=ROOT, home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    assert components.load_component_from_file(str(exported)).name == "fairvision"  # kfp's own loader
    spec = next(yaml.safe_load_all(exported.read_text(encoding="utf-8")))  # then its Kubernetes settings
    tasks = spec["root"]["dag"]["tasks"]
    stage_of = {name: task["taskInfo"]["name"] for name, task in tasks.items()}
    stages = list(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    assert {stage_of[name]: [stage_of[before] for before in task.get("dependentTasks", [])]
            for name, task in tasks.items()} == {stage: stages[max(index - 1, 0):index]
                                                 for index, stage in enumerate(stages)}
    executors = spec["deploymentSpec"]["executors"].values()
    assert {executor["container"]["image"] for executor in executors} == {load_kubernetes(ROOT / "params.yaml").image}
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(key.rsplit("/", 1)[1] for key in keys) == sorted(f"{stage}-{stage}.tar.gz" for stage in stages)


def test_the_local_run_writes_what_dvc_repro_writes(reproduced_project: Project, tmp_path: Path) -> None:
    """The pipeline and its scripts in a project folder holding the tiny project's params.yaml, run by Elyra's
    local runner (each script in elyra/, the stages in its parent), against `dvc repro` of the same params."""
    project = Project(tmp_path / "project")
    shutil.copytree(PIPELINE.parent, project.path / "elyra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(reproduced_project.path / "params.yaml", project.path / "params.yaml")
    result = elyra("elyra-pipeline", "run", "elyra/fairvision.pipeline", cwd=project.path, home=tmp_path / "home",
                   timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Elyra Pipeline Local Run Complete" in result.stdout
    assert "python -m fairvision.commands.train small_cnn --dataset synthetic --seed 0" in result.stdout

    assert project.outputs() == reproduced_project.outputs()
    assert "audits/synthetic/small_cnn/fairness.json" in project.outputs()
    for name in project.outputs():
        if not name.startswith(TIMED):
            assert (project.path / name).read_bytes() == (reproduced_project.path / name).read_bytes(), name
    assert sorted(p.name for p in (project.path / "elyra").iterdir()) == sorted(
        p.name for p in PIPELINE.parent.iterdir() if p.name != "__pycache__"), "a node wrote into elyra/"


def test_a_node_finds_the_project_beside_or_above_its_script_or_where_the_variable_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "elyra" / "prepare.py"
    script.parent.mkdir()
    monkeypatch.delenv(PROJECT_VARIABLE, raising=False)
    assert run_node("prepare", script) == 1
    assert f"no params.yaml in {script.parent} or {tmp_path}: " in capsys.readouterr().err
    (tmp_path / "params.yaml").touch()
    assert project_root(script) == tmp_path  # a checkout, Elyra's local runner: elyra/ in the project
    (script.parent / "params.yaml").touch()
    assert project_root(script) == script.parent  # Kubeflow: the script unpacked in the project (/workspace)
    monkeypatch.setenv(PROJECT_VARIABLE, str(tmp_path / "volume"))
    assert run_node("prepare", script) == 1
    assert f"no params.yaml in {tmp_path / 'volume'}: " in capsys.readouterr().err
