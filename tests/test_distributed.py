"""Two workers of a TFJob-like cluster end training with identical weights, and only the chief writes.

Both workers run the real ``fairvision train`` with the TF_CONFIG a Kubeflow TFJob sets, on
127.0.0.1 inside a network namespace of their own: TensorFlow's gRPC server listens on every
interface, and a private namespace has only loopback (``tests/multiworker.py`` starts them).
Where no namespace can be made (no ``unshare``, no privilege, no user namespaces) the test is
skipped, saying why. The backbone reweighs (per-example loss weights from a lookup table) and
train has three shards of unequal size, the input a real dataset gives a cluster. Identical
means every variable, BatchNormalization's moving statistics included: the chief exports its own.

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


def train_arguments(name: str) -> list[str]:
    return ["train", BACKBONE, "--out", f"models/{name}", "--history", f"{name}.history.csv",
            "--timing", f"{name}.timing.json", "--no-checkpoint"]


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def logs(runs: Path) -> str:
    """The last lines of every worker's output, for a failure message."""
    tails = []
    for log in sorted(runs.glob("worker*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        tails.append(f"--- {log.name} (last 60 lines) ---\n" + "\n".join(lines[-60:]))
    return "\n".join(tails) or "(no worker output)"


def run_cluster(namespace: list[str], project: Path, runs: Path) -> None:
    """Two workers in one fresh network namespace, worker i writing to models/w<i>; fails with their output."""
    # Each worker its own output paths (a TFJob gives all the same), so that anything worker 1 wrote would show.
    command = [*namespace, sys.executable, str(SCRIPT), "launch", str(runs), str(TIMEOUT - 30), "2", "--",
               *train_arguments("w{worker}")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | ENV
    process = subprocess.Popen(command, cwd=project, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        pytest.fail(f"the cluster did not finish in {TIMEOUT} s\n{logs(runs)}")
    statuses = {p.name: p.read_text(encoding="utf-8") for p in sorted(runs.glob("worker*.status"))}
    assert process.returncode == 0, f"launcher exit {process.returncode}, workers {statuses}\n{output}\n{logs(runs)}"


def test_two_workers_end_with_identical_weights_and_only_the_chief_writes(
    namespace: list[str], prepared: Path, tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(prepared, project)
    before = files(project)
    runs = tmp_path / "runs"
    runs.mkdir()
    started = time.perf_counter()
    run_cluster(namespace, project, runs)
    print(f"two-worker training: {time.perf_counter() - started:.1f} s")

    first, second = (np.load(runs / f"worker{i}.final.npz") for i in (0, 1))
    assert first.files == second.files and first.files
    differ = [f"{k} (by up to {np.max(np.abs(first[k] - second[k])):g})" for k in first.files
              if not np.array_equal(first[k], second[k])]
    assert not differ, "the workers' weights differ: " + ", ".join(differ)
    initial = np.load(runs / "worker0.initial.npz")
    assert any(not np.array_equal(first[k], initial[k]) for k in first.files), "training changed no weight"
    fitted = [json.loads((runs / f"worker{i}.fitted.json").read_text(encoding="utf-8")) for i in (0, 1)]
    assert fitted[0] == fitted[1]  # the same reduced metrics on both
    summary = json.loads((project / "models/w0/train.json").read_text(encoding="utf-8"))
    assert fitted[0]["images_seen"] == EPOCHS * summary["n_train"]  # every image once an epoch, on one worker
    # tf.distribute.MultiWorkerMirroredStrategy is the class CollectiveAllReduceStrategy
    assert summary["strategy"] == "MultiWorkerMirroredStrategy"
    assert (summary["replicas"], summary["batch_size"]) == (2, 32)  # 16 images a step on each worker

    # Only the chief wrote, and only its outputs; worker 1's export went to its temporary folder, since removed.
    written = files(project) - before
    assert written == {*(f"models/w0/{p}" for p in files(project / "models/w0")), "w0.history.csv", "w0.timing.json"}
    assert len((project / "w0.history.csv").read_text(encoding="utf-8").splitlines()) == 1 + EPOCHS
    left = [str(p) for i in (0, 1) for p in (runs / f"tmp{i}").iterdir()]
    assert not left, f"temporary files left behind: {left}"
