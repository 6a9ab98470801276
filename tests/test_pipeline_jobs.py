"""The pipeline's train step with the run's `training` input at `job`: each seed trained as a TFJob or TrainJob on the
run's workspace volume, against the stand-in API server (tests/k8s_standin.py), not a cluster.

The step reads its own pod for the workspace's claim, so the stand-in serves a pod shaped as Kubeflow Pipelines
makes a step's (container `main`, the workspace claim mounted at the workspace's path); the environment names it
as KFP does (KFP_POD_NAME) and gives its namespace (KFP_POD_NAMESPACE, else the service account's file).
"""

# No `from __future__ import annotations`: KFP reads the test components' annotations as types.

from pathlib import Path
from typing import Any, Iterator

import pytest

from fairvision.errors import FairvisionError
from fairvision.pipeline import definition
from fairvision.pipeline.k8s_names import MAX_RUN_NAME
from fairvision.pipeline.steps import check_training, train_seed
from k8s_schemas import SCHEMAS
from k8s_standin import StandIn
from params_file import write_params

NAME = "synthetic-small-cnn"
POD, NAMESPACE, ACCOUNT, CLAIM = "fairvision-x7k2p-system-container-impl-1", "team-a", "pipeline-runner", "ws-x7k2p"
PLURALS = {"tfjob": "tfjobs", "trainjob": "trainjobs"}


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn(SCHEMAS if SCHEMAS.is_dir() else None) as server:
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.setenv("KFP_POD_NAME", POD)
        monkeypatch.setenv("KFP_POD_NAMESPACE", NAMESPACE)
        yield server


def step_pod(workspace: Path, claim: str | None = CLAIM) -> dict[str, Any]:
    """A KFP step's pod: the run's workspace claim mounted at ``workspace`` (``claim`` None: an emptyDir there)."""
    volume = {"persistentVolumeClaim": {"claimName": claim}} if claim else {"emptyDir": {}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD, "namespace": NAMESPACE},
            "spec": {"serviceAccountName": ACCOUNT,
                     "containers": [{"name": "main", "image": "fairvision",
                                     "volumeMounts": [{"name": "kfp-workspace", "mountPath": str(workspace)}]}],
                     "volumes": [{"name": "kfp-workspace", **volume}]}}


def workspace_of(tmp_path: Path, operator: str = "tfjob") -> Path:
    workspace = tmp_path / "workspace"
    write_params(workspace, {"kubernetes.train.operator": operator})
    return workspace


def created(standin: StandIn, operator: str) -> dict[str, dict[str, Any]]:
    """The jobs created, by name; every one in the step's namespace and of ``operator``'s kind."""
    assert {(namespace, plural) for namespace, plural, _ in standin.objects} <= {(NAMESPACE, PLURALS[operator])}
    return {name: body for (_, _, name), body in standin.objects.items()}


@pytest.mark.parametrize("operator", PLURALS)
def test_each_seed_trains_as_a_job_on_the_runs_workspace_in_the_steps_namespace(
        tmp_path: Path, standin: StandIn, operator: str) -> None:
    workspace = workspace_of(tmp_path, operator)
    standin.pods[(NAMESPACE, POD)] = step_pod(workspace)
    for seed in (1, 2, 1):  # the third: a retried step, which waits for its seed's job instead of starting another
        train_seed(str(workspace), "params.yaml", "synthetic", "small_cnn", seed, "job", timeout=5, poll=0.01)
    jobs = created(standin, operator)
    assert len(jobs) == 2 and all(name.startswith(f"{NAME}-") and len(name) <= MAX_RUN_NAME for name in jobs)
    by_seed = {body["metadata"]["annotations"]["fairvision/run"]: body for body in jobs.values()}
    assert sorted(by_seed) == ["synthetic/small_cnn/seed-1", "synthetic/small_cnn/seed-2"]
    body = by_seed["synthetic/small_cnn/seed-2"]
    train = ["fairvision", "train", "small_cnn", "--dataset", "synthetic", "--seed", "2", "--params", "params.yaml"]
    claim = [{"name": "workspace", "persistentVolumeClaim": {"claimName": CLAIM}}]
    mounts = [{"name": "workspace", "mountPath": str(workspace)}]
    if operator == "tfjob":
        pod = body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == train and container["workingDir"] == str(workspace)
        assert container["volumeMounts"] == mounts and container["env"] == []  # checkpoints: in the workspace
    else:
        assert body["spec"]["trainer"]["command"] == ["/bin/sh", "-c", 'cd "$0" && exec "$@"', str(workspace), *train]
        assert [variable["name"] for variable in body["spec"]["trainer"]["env"]] == ["FAIRVISION_NUM_NODES"]
        (patch,) = body["spec"]["runtimePatches"]
        (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
        pod = node["template"]["spec"]["template"]["spec"]
        assert pod["containers"] == [{"name": "node", "volumeMounts": mounts}]
    assert pod["volumes"] == claim and pod["serviceAccountName"] == ACCOUNT


def test_a_pod_without_a_workspace_claim_is_an_error_before_any_job(tmp_path: Path, standin: StandIn) -> None:
    workspace = workspace_of(tmp_path)
    standin.pods[(NAMESPACE, POD)] = step_pod(workspace, claim=None)
    with pytest.raises(FairvisionError, match=f"pod {NAMESPACE}/{POD} mounts no PersistentVolumeClaim at the "
                                              f"workspace {workspace}: training as a Kubeflow job needs"):
        train_seed(str(workspace), "params.yaml", "synthetic", "small_cnn", 1, "job", timeout=5, poll=0.01)
    assert not standin.objects


def test_a_pod_it_cannot_read_is_named_with_the_permission_it_needs(tmp_path: Path, standin: StandIn) -> None:
    with pytest.raises(FairvisionError, match=f"cannot read this step's pod {NAMESPACE}/{POD} .* answered 404 "
                                              r"Not Found \(the step's service account needs `get` on pods"):
        train_seed(str(workspace_of(tmp_path)), "params.yaml", "synthetic", "small_cnn", 1, "job", timeout=5,
                   poll=0.01)
    assert not standin.objects


def test_training_is_pod_or_job(tmp_path: Path) -> None:
    with pytest.raises(FairvisionError, match="pipeline parameter `training` is 'gpu'; expected one of pod, job"):
        check_training("gpu")
    with pytest.raises(FairvisionError, match="pipeline parameter `training` is 'gpu'"):
        train_seed(str(tmp_path), "params.yaml", "synthetic", "small_cnn", 1, "gpu", timeout=5, poll=0.01)


def test_the_kfp_step_fails_with_the_jobs_own_message_and_hands_on_the_model_when_it_succeeds(
        tmp_path: Path, standin: StandIn, capfd: pytest.CaptureFixture[str]) -> None:
    """The pipeline's own train component, run by kfp.local (its source in a module of its own, in a subprocess that
    inherits this environment); the stand-in plays the operator, so what a job would write is put there by hand."""
    from kfp import dsl, local

    workspace = workspace_of(tmp_path)
    standin.pods[(NAMESPACE, POD)] = step_pod(workspace)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"))
    train = dsl.component(definition.train, base_image="fairvision", install_kfp_package=False)

    @dsl.component(base_image="fairvision", install_kfp_package=False)
    def prepared(data: dsl.Output[dsl.Dataset]) -> None:
        open(data.path, "w").close()

    @dsl.pipeline
    def one_seed(seed: int) -> dsl.Model:
        return train(workspace=str(workspace), params_file="params.yaml", dataset="synthetic", backbone="small_cnn",
                     seed=seed, training="job", job_poll=0.01, prepared=prepared().output).output

    standin.play = "fail"
    with pytest.raises(RuntimeError, match="FAILURE"):
        one_seed(seed=1)
    log = capfd.readouterr().out
    assert f"FairvisionError: TFJob {NAMESPACE}/{NAME}-" in log
    assert "failed: TFJobFailed: Job " in log and "has failed because it has reached the specified backoff limit" in log

    standin.play = "succeed"
    model = workspace / "models" / "synthetic" / "small_cnn" / "seed-2"
    model.mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"what the job wrote")
    handed_on = one_seed(seed=2)
    assert (Path(handed_on.output.path) / "saved_model.pb").read_bytes() == b"what the job wrote"
    assert len(standin.objects) == 2
