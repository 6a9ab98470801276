"""`fairvision k8s submit` and the pipeline's job step, against a stand-in API server (tests/k8s_standin.py).

No cluster: the stand-in answers the kubernetes client's requests over real HTTP on 127.0.0.1 and plays the
operators' status transitions. It checks bodies against the CRD schemas in ../shared/k8s-schemas where that
folder exists; the transitions, timeouts and name collisions are tested without it too (no check then), and
only the tests of rejected bodies and of the stand-in's own statuses skip.
"""

from __future__ import annotations

import copy
import logging
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from fairvision.cli import main
from fairvision.errors import FairvisionError
from fairvision.pipeline import jobs
from fairvision.pipeline.k8s import Manifest
from k8s_standin import PLAYS, RESOURCES, StandIn, statuses, write_kubeconfig
from params_file import write_params
from k8s_schemas import SCHEMAS, crd_errors, misspell, needs_schemas

TRAINJOB = {"kubernetes.train.operator": "trainjob"}
KINDS = {"TFJob": {}, "TrainJob": TRAINJOB}  # the params change that makes each kind
NAME = "synthetic-small-cnn"  # dataset `synthetic` × backbone `small_cnn`, in namespace `fairvision`


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(SCHEMAS if SCHEMAS.is_dir() else None) as server:
        yield server


def submit(folder: Path, standin: StandIn, change: dict[str, Any] | None = None, *extra: str) -> int:
    """`fairvision k8s submit small_cnn` on a changed copy of params.yaml, against ``standin``; its exit status."""
    params = write_params(folder, change or {})
    return main(["k8s", "submit", "small_cnn", "--params", str(params), "--poll", "0.01",
                 "--kubeconfig", str(standin.kubeconfig(folder / "kubeconfig")), *extra])


def progress(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "fairvision"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_that_succeeds_is_created_as_k8s_holds_it_and_waited_for(
        tmp_path: Path, standin: StandIn, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    caplog.set_level(logging.INFO, logger="fairvision")
    assert submit(tmp_path, standin, KINDS[kind]) == 0
    logged = progress(caplog)
    (key, created), = standin.objects.items()
    assert key == ("fairvision", f"{kind.lower()}s", NAME) and created["kind"] == kind
    written = tmp_path / "k8s"
    assert main(["k8s", "--params", str(tmp_path / "params.yaml"), "--out", str(written)]) == 0
    manifest = yaml.safe_load((written / f"{kind.lower()}-{NAME}.yaml").read_text())
    annotations = created["metadata"]["annotations"]
    assert annotations.pop(jobs.BODY_HASH) and created == manifest  # the very object of k8s/, one annotation more
    assert standin.queries == [{"fieldValidation": ["Strict"]}]
    job = f"{kind} fairvision/{NAME}"
    if kind == "TFJob":
        assert logged == [
            f"{job}: created",
            f"{job}: Created (TFJobCreated: TFJob {NAME} is created.)",
            f"{job}: Running (TFJobRunning: {job} is running.)",
            f"{job}: Succeeded (TFJobSucceeded: {job} successfully completed.)"]
    else:
        assert logged == [
            f"{job}: created", f"{job}: no condition yet",
            f"{job}: no condition yet (node: 1 active, 1 ready, 0 succeeded, 0 failed)",
            f"{job}: Complete (AllJobsCompleted: jobset completed successfully)"]


@pytest.mark.parametrize(("kind", "words"), [
    ("TFJob", f"TFJobFailed: Job {NAME} has failed because it has reached the specified backoff limit"),
    ("TrainJob", "ReachedMaxRestarts: jobset failed due to reaching max number of restarts"),
])
def test_a_failed_job_fails_with_its_own_condition_message(
        tmp_path: Path, standin: StandIn, capsys: pytest.CaptureFixture[str], kind: str, words: str) -> None:
    standin.play = "fail"
    assert submit(tmp_path, standin, KINDS[kind]) == 1
    stderr = capsys.readouterr().err
    assert f"fairvision: error: {kind} fairvision/{NAME} failed: {words}\n" in stderr
    assert "Traceback" not in stderr


def test_a_job_stuck_running_times_out_naming_it_and_its_last_condition(
        tmp_path: Path, standin: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    standin.play = "stall"
    assert submit(tmp_path, standin, {}, "--timeout", "0.2") == 1
    stderr = capsys.readouterr().err
    assert (f"fairvision: error: TFJob fairvision/{NAME} did not finish within 0.2 s (last seen: Running "
            f"(TFJobRunning: TFJob fairvision/{NAME} is running.)); it is left running: submitting it again waits "
            f"for it, `kubectl delete tfjob -n fairvision {NAME}` stops it") in stderr


def test_the_same_body_again_waits_for_the_job_there(
        tmp_path: Path, standin: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    """A resubmission after a timeout (or a retried step) waits for the job it created, to its end."""
    caplog.set_level(logging.INFO, logger="fairvision")
    # At most two reads before the deadline: Created, Running; the third would be Succeeded.
    assert submit(tmp_path, standin, {}, "--timeout", "0.001", "--poll", "60") == 1
    caplog.clear()
    assert submit(tmp_path, standin) == 0
    logged = progress(caplog)
    assert logged[0] == f"TFJob fairvision/{NAME}: already exists, created from this same body: waiting for it"
    assert logged[-1].startswith(f"TFJob fairvision/{NAME}: Succeeded (TFJobSucceeded: ")
    assert len(standin.objects) == 1


def test_a_name_taken_by_another_body_is_an_error(
        tmp_path: Path, standin: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(tmp_path, standin) == 0
    assert submit(tmp_path, standin, {"kubernetes.train.workers": 3}) == 1
    assert (f"fairvision: error: TFJob fairvision/{NAME} already exists, not submitted from this body (but by "
            "`kubectl apply`, or from other params, image or fairvision version): delete it first (`kubectl delete "
            f"tfjob -n fairvision {NAME}`)") in capsys.readouterr().err
    (created,) = standin.objects.values()
    assert created["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2


def broken_builder(path: str, *, rename: str | None = None, value: Any = None) -> Any:
    """``k8s.training_job`` whose body has the field at ``path`` renamed to ``rename``, or set to ``value``."""
    original = jobs.training_job

    def build(*args: Any) -> Manifest:
        body = original(*args).body
        if rename is not None:
            return Manifest(misspell(body, path, rename))
        body = copy.deepcopy(body)
        *parents, key = path.split(".")
        node = body
        for parent in parents:
            node = node[parent]
        node[key] = value
        return Manifest(body)

    return build


@needs_schemas
@pytest.mark.parametrize(("kind", "path", "change", "answer"), [
    ("TFJob", "spec.tfReplicaSpecs.Worker.replicas", {"rename": "replcas"},
     '400 Bad Request: TFJob in version "v1" cannot be handled as a TFJob: strict decoding error: unknown field '
     '"spec.tfReplicaSpecs.Worker.replcas"'),
    ("TrainJob", "spec.trainer.numNodes", {"rename": "numNode"},
     '400 Bad Request: TrainJob in version "v1alpha1" cannot be handled as a TrainJob: strict decoding error: '
     'unknown field "spec.trainer.numNode"'),
    ("TFJob", "spec.runPolicy.backoffLimit", {"value": "three"},
     f'422 Unprocessable Entity: TFJob.kubeflow.org "{NAME}" is invalid: spec.runPolicy.backoffLimit: Invalid '
     "value: \"three\": 'three' is not of type 'integer'"),
])
def test_a_body_the_schema_rejects_is_refused_naming_the_field(
        tmp_path: Path, standin: StandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        kind: str, path: str, change: dict[str, Any], answer: str) -> None:
    monkeypatch.setattr(jobs, "training_job", broken_builder(path, **change))
    assert submit(tmp_path, standin, KINDS[kind]) == 1
    stderr = capsys.readouterr().err
    assert f"fairvision: error: could not create {kind} fairvision/{NAME}: the API server answered {answer}" in stderr
    assert "Traceback" not in stderr and not standin.objects


@needs_schemas
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("play", PLAYS)
def test_the_standin_plays_statuses_its_crd_schema_accepts(kind: str, play: str) -> None:
    """The stand-in's own statuses are ones the operators could write: every step passes the CRD schema."""
    (group, version, plural), = [key for key, value in RESOURCES.items() if value[0] == kind]
    body = {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": {"name": NAME}, "spec": {}}
    for status in statuses(kind, "fairvision", NAME, play):
        errors = [error for error in crd_errors({**body, "status": status} if status else body)
                  if not error.startswith("spec")]  # an empty spec is beside the point here
        assert not errors, errors


def test_a_kind_the_cluster_lacks_is_a_404_with_a_hint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with StandIn(None, kinds=("tfjobs.kubeflow.org",)) as standin:
        assert submit(tmp_path, standin, TRAINJOB) == 1
    assert (f"could not create TrainJob fairvision/{NAME}: the API server answered 404 Not Found: the server could "
            "not find the requested resource (is the operator installed (its CRD), and the namespace created "
            "(k8s/namespace.yaml)?)") in capsys.readouterr().err


def test_an_unreachable_api_server_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    status = main(["k8s", "submit", "small_cnn", "--params", str(write_params(tmp_path, {})), "--kubeconfig",
                   str(config)])
    stderr = capsys.readouterr().err
    assert status == 1
    assert f"TFJob fairvision/{NAME}: cannot reach the Kubernetes API server at http://127.0.0.1:{port}" in stderr


def test_without_a_cluster_configuration_the_error_says_where_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FairvisionError, match=f"no Kubernetes cluster configuration in {tmp_path}/none: "):
        jobs.api_client(str(tmp_path / "none"))
    monkeypatch.delenv("KUBECONFIG", raising=False)  # in a pod given no kubeconfig: its service account
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(FairvisionError, match="no Kubernetes cluster configuration in the pod's service account: "):
        jobs.api_client()  # no service account token here


def test_a_kubeconfig_that_is_not_yaml_is_named_without_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [unclosed\n", encoding="utf-8")
    with pytest.raises(FairvisionError, match=f"no Kubernetes cluster configuration in {broken}: unreadable "
                                              r"\(\w+Error\)"):
        jobs.api_client(str(broken))


@pytest.mark.parametrize(("argv", "message"), [
    (["submit"], "`fairvision k8s submit` needs a backbone: one of params.yaml `backbones` (small_cnn, "),
    (["write", "small_cnn"],
     "`fairvision k8s` takes a backbone only after `submit`: `fairvision k8s submit small_cnn`"),
    (["submit", "resnet"], "backbone 'resnet' is not in params.yaml `backbones` (small_cnn, "),
    (["submit", "small_cnn", "--dataset", "faces"], "dataset 'faces' is not in params.yaml `datasets`"),
])
def test_bad_arguments_stop_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               argv: list[str], message: str) -> None:
    with StandIn(None) as standin:
        status = main(["k8s", *argv, "--params", str(write_params(tmp_path, {})),
                       "--kubeconfig", str(standin.kubeconfig(tmp_path / "kubeconfig"))])
    stderr = capsys.readouterr().err
    assert status == 1 and message in stderr and "Traceback" not in stderr
    assert not standin.queries


@pytest.mark.parametrize(("argv", "message"), [
    (["small_cnn"], "argument action: invalid choice: 'small_cnn' (choose from 'write', 'submit')"),
    (["submit", "small_cnn", "--timeout", "0"], "argument --timeout: must be a number of seconds > 0, got '0'"),
    (["submit", "small_cnn", "--poll", "soon"], "argument --poll: must be a number of seconds > 0, got 'soon'"),
])
def test_usage_errors_exit_1(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["k8s", *argv])
    assert stopped.value.code == 1 and message in capsys.readouterr().err

