"""Two workers of a Kubeflow-like cluster end training with identical weights, only the chief writes,
a killed cluster resumes from the checkpoint they share, and a TrainJob's pods train as a TFJob's do.

Both workers run the real ``fairvision train``, on a private network inside a network namespace
of their own: TensorFlow's gRPC server listens on every interface, and a private namespace has
only what ``tests/multiworker.py`` sets up there. As a TFJob's workers they get its TF_CONFIG
and share 127.0.0.1; as a Trainer v2 TrainJob's pods they get only the JobSet variables, and
each has an address of its own and the same port, found by JobSet's host names. Where no
namespace can be made (no ``unshare``, no privilege, no user namespaces) the tests are skipped,
saying why. The backbone reweighs (per-example loss weights from a lookup table) and train has
three shards of unequal size, the input a real dataset gives a cluster. Identical means every
variable, BatchNormalization's moving statistics included: the chief exports its own.

The weights are not compared with a one-process run: the head's dropout draws one mask for a
batch of 32 there and one per 16 on each worker, so the two trainings differ by design.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fairvision.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("multiworker.py")
BACKBONE = "small_cnn+reweighing"
EPOCHS = 2
TIMEOUT = 300  # seconds for the whole cluster; a lost worker leaves the other waiting for ever
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
CHECKPOINTS = "checkpoints"  # in the project: a folder both workers read, as a shared volume would be
CHECKPOINT_ENV = "FAIRVISION_CHECKPOINT_DIR"


@pytest.fixture(scope="module")
def namespace() -> list[str]:
    """The command prefix that runs a program in a fresh network namespace, or a skip saying why there is none."""
    if not sys.platform.startswith("linux"):
        pytest.skip(f"network namespaces are Linux only (this is {sys.platform})")
    if shutil.which("unshare") is None:
        pytest.skip("`unshare` (util-linux) is not installed: no private network namespace for the workers")
    failures = []
    for prefix in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):  # as root; via a user namespace
        try:
            probe = subprocess.run([*prefix, sys.executable, str(SCRIPT), "probe"], capture_output=True, text=True,
                                   timeout=60)
        except subprocess.TimeoutExpired:
            failures.append(f"`{' '.join(prefix)}`: timed out")
            continue
        if probe.returncode == 0:
            return prefix
        why = probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"]
        failures.append(f"`{' '.join(prefix)}`: {why[-1]}")
    pytest.skip("cannot run the workers in a private network namespace with loopback up (needs root, or "
                "unprivileged user namespaces): " + "; ".join(failures))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("distributed")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["synth"].update(n_train=160, n_val=40, image_size=16)
    params["prepare"].update(shard_size=48)  # about 130 train images: shards of 48, 48 and the rest
    params["train"].update(image_size=16, batch_size=32, epochs=EPOCHS)
    params["backbones"] = {BACKBONE: {"width": 4, "reweighing": ["race"]}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["synth"]) == 0 and main(["prepare"]) == 0
    return folder


def train_arguments(name: str, checkpoint_dir: str | None = CHECKPOINTS) -> list[str]:
    """Worker outputs named ``name``, per-epoch state in ``checkpoint_dir`` (None: no --checkpoint-dir). With
    ``w{worker}``, each worker has output paths of its own (a TFJob gives all the same), so that anything a
    non-chief wrote would show."""
    return ["train", BACKBONE, "--out", f"models/{name}", "--history", f"{name}.history.csv",
            "--timing", f"{name}.timing.json", *(("--checkpoint-dir", checkpoint_dir) if checkpoint_dir else ())]


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def logs(runs: Path) -> str:
    """The last lines of every worker's output, for a failure message."""
    tails = []
    for log in sorted(runs.glob("worker*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        tails.append(f"--- {log.name} (last 60 lines) ---\n" + "\n".join(lines[-60:]))
    return "\n".join(tails) or "(no worker output)"


def start_cluster(namespace: list[str], project: Path, runs: Path, arguments: list[str], job: str = "tfjob",
                  env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Two workers in one fresh network namespace, as ``job``'s workers (tests/multiworker.py), in ``project``."""
    runs.mkdir()
    command = [*namespace, sys.executable, str(SCRIPT), "launch", str(runs), str(TIMEOUT - 30), "2", job, "--",
               *arguments]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", CHECKPOINT_ENV)} | ENV | (env or {})
    return subprocess.Popen(command, cwd=project, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_cluster(process: subprocess.Popen[str], runs: Path) -> int:
    """Wait for the cluster: the launcher's exit status (0: every worker exited 0). Fails with their output on a
    timeout."""
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        pytest.fail(f"the cluster did not finish in {TIMEOUT} s\n{logs(runs)}")
    (runs / "launch.log").write_text(output, encoding="utf-8")
    return process.returncode


def run_cluster(namespace: list[str], project: Path, runs: Path, arguments: list[str], job: str = "tfjob",
                env: dict[str, str] | None = None) -> None:
    """A cluster that must succeed; fails with the workers' output otherwise."""
    status = finish_cluster(start_cluster(namespace, project, runs, arguments, job, env), runs)
    statuses = {p.name: p.read_text(encoding="utf-8") for p in sorted(runs.glob("worker*.status"))}
    launched = (runs / "launch.log").read_text(encoding="utf-8")
    assert status == 0, f"launcher exit {status}, workers {statuses}\n{launched}\n{logs(runs)}"


def final_weights(runs: Path, worker: int) -> dict[str, np.ndarray]:
    with np.load(runs / f"worker{worker}.final.npz") as weights:
        return dict(weights)


def differences(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    """The variables of ``got`` that differ from ``expected`` (all of them when the names differ)."""
    if sorted(expected) != sorted(got) or not expected:
        return [f"other variables: {sorted(set(expected) ^ set(got))[:3]}"]
    return [f"{k} (by up to {np.max(np.abs(expected[k] - got[k])):g})" for k in expected
            if not np.array_equal(expected[k], got[k])]


@pytest.fixture(scope="module")
def uninterrupted(namespace: list[str], prepared: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, Path, set[str]]:
    """A TFJob-like run of two workers with a checkpoint after every epoch: the project, the runs folder, and the
    files the project held before."""
    project = tmp_path_factory.mktemp("uninterrupted") / "project"
    shutil.copytree(prepared, project)
    before = files(project)
    runs = project.parent / "runs"
    started = time.perf_counter()
    run_cluster(namespace, project, runs, train_arguments("w{worker}"))
    print(f"two-worker training: {time.perf_counter() - started:.1f} s")
    return project, runs, before


def test_two_workers_end_with_identical_weights_and_only_the_chief_writes(
    uninterrupted: tuple[Path, Path, set[str]],
) -> None:
    project, runs, before = uninterrupted
    first, second = final_weights(runs, 0), final_weights(runs, 1)
    differ = differences(first, second)
    assert not differ, "the workers' weights differ: " + ", ".join(differ)
    initial = np.load(runs / "worker0.initial.npz")
    assert any(not np.array_equal(first[k], initial[k]) for k in first), "training changed no weight"
    fitted = [json.loads((runs / f"worker{i}.fitted.json").read_text(encoding="utf-8")) for i in (0, 1)]
    assert fitted[0] == fitted[1]  # the same reduced metrics on both
    summary = json.loads((project / "models/w0/train.json").read_text(encoding="utf-8"))
    assert fitted[0]["images_seen"] == EPOCHS * summary["n_train"]  # every image once an epoch, on one worker
    # tf.distribute.MultiWorkerMirroredStrategy is the class CollectiveAllReduceStrategy
    assert summary["strategy"] == "MultiWorkerMirroredStrategy"
    assert (summary["replicas"], summary["batch_size"]) == (2, 32)  # 16 images a step on each worker

    # Only the chief wrote, and only its outputs (its checkpoint is gone once the model is written); worker 1's
    # export went to its temporary folder, since removed.
    written = files(project) - before
    assert written == {*(f"models/w0/{p}" for p in files(project / "models/w0")), "w0.history.csv", "w0.timing.json"}
    assert len((project / "w0.history.csv").read_text(encoding="utf-8").splitlines()) == 1 + EPOCHS
    left = [str(p) for i in (0, 1) for p in (runs / f"tmp{i}").iterdir()]
    assert not left, f"temporary files left behind: {left}"


@pytest.fixture(scope="module")
def killed(namespace: list[str], prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A project whose two-worker training was SIGKILLed (launcher and workers) once the chief had written its
    first checkpoint, and the epoch it holds. Tests copy it before running in it."""
    project = tmp_path_factory.mktemp("killed") / "project"
    shutil.copytree(prepared, project)
    runs = project.parent / "runs"
    process = start_cluster(namespace, project, runs, train_arguments("w{worker}"))
    deadline = time.monotonic() + TIMEOUT
    while not list((project / CHECKPOINTS).rglob("state.json")) and process.poll() is None:
        assert time.monotonic() < deadline, f"no checkpoint after {TIMEOUT} s\n{logs(runs)}"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    states = list((project / CHECKPOINTS).rglob("state.json"))
    assert len(states) == 1, f"the cluster ended before it was killed\n{logs(runs)}"
    epoch = json.loads(states[0].read_text(encoding="utf-8"))["epoch"]
    assert 1 <= epoch < EPOCHS and not (project / "models/w0").exists(), "the cluster was not killed mid-training"
    return project, epoch


def test_a_killed_cluster_resumes_from_the_shared_checkpoint_to_the_same_weights(
    namespace: list[str], killed: tuple[Path, int], uninterrupted: tuple[Path, Path, set[str]], tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(killed[0], project)
    runs = tmp_path / "runs"
    run_cluster(namespace, project, runs, train_arguments("w{worker}"))
    folder = f"{CHECKPOINTS}/synthetic/{BACKBONE}/seed-0"
    for worker in (0, 1):  # both restored the chief's state, and neither trained epoch 1 again
        log = (runs / f"worker{worker}.log").read_text(encoding="utf-8")
        assert f"resumed from {folder} after epoch {killed[1]}" in log, logs(runs)
        assert f"epoch {killed[1]}/{EPOCHS}:" not in log
    expected = final_weights(uninterrupted[1], 0)
    for worker in (0, 1):
        differ = differences(expected, final_weights(runs, worker))
        assert not differ, f"worker {worker} resumed to other weights than an uninterrupted run: {', '.join(differ)}"
    history = (project / "w0.history.csv").read_text(encoding="utf-8")
    assert history == (uninterrupted[0] / "w0.history.csv").read_text(encoding="utf-8")
    assert not (project / folder).exists()  # removed once the model is written


def test_a_worker_without_the_chiefs_checkpoint_stops_the_cluster(
    namespace: list[str], killed: tuple[Path, int], tmp_path: Path,
) -> None:
    """What a checkpoint folder on each pod's own disk gives: the chief finds its state, worker 1 an empty folder.
    Every worker stops with an error naming both, before any training step, instead of diverging."""
    project = tmp_path / "project"
    shutil.copytree(killed[0], project)
    (project / CHECKPOINTS).rename(project / "local0")
    (project / "local1").mkdir()
    runs = tmp_path / "runs"
    status = finish_cluster(start_cluster(namespace, project, runs, train_arguments("w{worker}", "local{worker}")),
                            runs)
    assert status != 0
    stopped = [(runs / f"worker{i}.log").read_text(encoding="utf-8") for i in (0, 1)]
    message = (f"the workers found different checkpoints in their checkpoint folder (local{{}}/synthetic/{BACKBONE}/"
               f"seed-0 here): worker 0 (the chief): the state after epoch {killed[1]} (digest ")
    said = [i for i in (0, 1) if message.format(i) in stopped[i] and "; worker 1: none. Only the chief" in stopped[i]]
    assert said, logs(runs)  # the first to stop makes the launcher kill the other, perhaps before it could say it
    assert not any(f"/{EPOCHS}: loss" in log for log in stopped), "a worker trained"
    assert not (project / "models").exists()
    assert (project / f"local0/synthetic/{BACKBONE}/seed-0/state.json").exists()  # nothing was lost


@pytest.fixture(scope="module")
def pod_network() -> None:
    """What the TrainJob-like pods need besides a namespace: iproute2, nsenter and mount, or a skip saying so."""
    missing = [tool for tool in ("ip", "nsenter", "mount") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: no network of pods for the TrainJob-like workers")


def test_trainjob_pods_derive_their_cluster_and_train_as_a_tfjob_does(
    namespace: list[str], pod_network: None, prepared: Path, uninterrupted: tuple[Path, Path, set[str]],
    tmp_path: Path,
) -> None:
    """No TF_CONFIG: each pod has JOBSET_NAME, REPLICATED_JOB_NAME, JOB_COMPLETION_INDEX and FAIRVISION_NUM_NODES,
    an address of its own, the port the others use, and the checkpoint folder from FAIRVISION_CHECKPOINT_DIR
    (as the generated manifests set it). They end with the weights the TF_CONFIG workers ended with."""
    project = tmp_path / "project"
    shutil.copytree(prepared, project)
    runs = tmp_path / "runs"
    run_cluster(namespace, project, runs, train_arguments("w{worker}", checkpoint_dir=None), job="trainjob",
                env={CHECKPOINT_ENV: CHECKPOINTS})
    for worker in (0, 1):
        log = (runs / f"worker{worker}.log").read_text(encoding="utf-8")
        assert (f"TF_CONFIG from the JobSet environment: worker {worker} of fairvision-test-node-0-0.fairvision-test"
                ":2222, fairvision-test-node-0-1.fairvision-test:2222") in log, logs(runs)
    expected = final_weights(uninterrupted[1], 0)
    for worker in (0, 1):
        differ = differences(expected, final_weights(runs, worker))
        assert not differ, f"pod {worker} ended with other weights than the TF_CONFIG workers: {', '.join(differ)}"
    summary = json.loads((project / "models/w0/train.json").read_text(encoding="utf-8"))
    assert (summary["strategy"], summary["replicas"]) == ("MultiWorkerMirroredStrategy", 2)
    assert not (project / "models/w1").exists() and not list((project / CHECKPOINTS).rglob("state.json"))
