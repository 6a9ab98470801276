"""Faults, with nothing lost: stages SIGKILLed mid-write, the S3 server stopped mid-read and mid-push, a full disk.

Each test breaks one thing at a chosen point, then checks the outputs: nothing partial at any destination, what a
killed process leaves behind changes no dependency hash and no `git status`, and the next run (or a retry once the
fault is gone) completes, rerunning only what was broken. The pipeline is tests/dvc_project.py's tiny project,
reproduced once per test run (the `reproduced_project` fixture); each test works on a copy.

The point of each fault is chosen exactly, never by timing:
* a stage is killed by a `sitecustomize` module put on PYTHONPATH here (fairvision knows nothing of it), which makes
  the stage's process SIGKILL itself as it moves its finished temporary onto the destination chosen by the test:
  the last instant of an atomic write, when the most has been written and nothing is in place yet;
* the S3 server (moto's, on 127.0.0.1, sharing the session server's buckets) stops after a set number of requests
  of one kind: it drops every connection and closes its port, as a stopped server looks to a client;
* the disk is a tmpfs of a set size mounted over the output folder, in a private mount namespace
  (`unshare -m` as root, as on CI; `unshare -rm` otherwise).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from conftest import encode_image
from dvc_project import TIMED, Project, copy_project
from fairvision.cli import main

# --- A stage killed mid-write ------------------------------------------------------------------------------------

KILL_HOOK = '''\
"""Test hook (tests/test_faults.py): a fairvision stage SIGKILLs itself as it renames anything onto or off
FAULT_KILL_AT, an absolute path. Only stage processes (python -m fairvision.commands.<stage>) are touched."""
import os
import signal
import sys

_TARGET = os.environ.get("FAULT_KILL_AT")


def _killing(rename):
    def checked(src, dst, *args, **kwargs):
        if _TARGET in (os.path.abspath(src), os.path.abspath(dst)):
            os.kill(os.getpid(), signal.SIGKILL)
        return rename(src, dst, *args, **kwargs)
    return checked


if _TARGET and any(arg.startswith("fairvision.commands.") for arg in sys.orig_argv):
    os.replace, os.rename = _killing(os.replace), _killing(os.rename)
'''


@pytest.fixture(scope="module")
def kill_hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the kill hook as sitecustomize.py, for PYTHONPATH."""
    folder = tmp_path_factory.mktemp("kill-hook")
    (folder / "sitecustomize.py").write_text(KILL_HOOK, encoding="utf-8")
    return folder


def ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The stages `dvc repro` started, in order."""
    return re.findall(r"Running stage '([^']+)'", result.stdout)


def contents(project: Project) -> dict[str, bytes]:
    """Every file the stages wrote (tests/dvc_project.py `outputs`), with its bytes."""
    return {path: (project.path / path).read_bytes() for path in project.outputs()}


def untracked(project: Project) -> list[str]:
    lines = project.run("git", "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    return [line[3:] for line in lines if line.startswith("??")]


def append_comment(project: Project, code: str) -> None:
    """Change ``code`` (a stage's code dependency) without changing what the installed fairvision does."""
    with (project.path / code).open("a", encoding="utf-8") as handle:
        handle.write("# changed by tests/test_faults.py: this stage alone must rerun\n")
    project.commit(f"change {code}")


# A training run killed after its last epoch resumes from that epoch's checkpoint and exports the same weights, but
# its SavedModel graph file differs (TensorFlow numbers traced functions per process; tests/test_resume.py), so the
# model's hash changes and the stages reading the model rerun. The audit, reading their byte-identical predictions,
# does not. Drop these from the expectation once a resumed export is byte-identical.
RESUMED_MODEL_READERS = {"evaluate@synthetic-small_cnn-0", "explain@synthetic-small_cnn", "discover@synthetic-small_cnn"}
MODEL_GRAPHS = ("models/synthetic/small_cnn/seed-0/saved_model.pb", "models/synthetic/small_cnn/seed-0/fingerprint.pb")


@pytest.mark.parametrize(("stage", "code", "destination", "downstream"), [
    ("prepare@synthetic", "src/fairvision/data/prepare.py", "data/prepared/synthetic", set()),
    # its timing (a wall-clock fact, never the same twice) is the report's dependency: the report reruns too
    ("train@synthetic-small_cnn-0", "src/fairvision/models/train.py", "models/synthetic/small_cnn/seed-0",
     {"report@synthetic"} | RESUMED_MODEL_READERS),
    ("audit@synthetic-small_cnn", "src/fairvision/audit/stage.py", "audits/synthetic/small_cnn/fairness.json",
     set()),
    ("report@synthetic", "src/fairvision/report/render.py", "reports/synthetic", set()),
], ids=["prepare", "train", "audit", "report"])
def test_a_stage_killed_mid_write_leaves_nothing_partial_and_repro_reruns_only_it(
    reproduced_project: Project, kill_hook: Path, tmp_path: Path, stage: str, code: str, destination: str,
    downstream: set[str],
) -> None:
    before = contents(reproduced_project)
    project = copy_project(reproduced_project, tmp_path / "project")
    append_comment(project, code)

    hook = {"PYTHONPATH": os.pathsep.join(filter(None, [str(kill_hook), os.environ.get("PYTHONPATH")])),
            "FAULT_KILL_AT": str(project.path / destination)}
    killed = project.dvc("repro", check=False, env=hook)
    assert killed.returncode != 0 and ran(killed)[-1] == stage, killed.stdout[-2000:]
    # SIGKILL: -9 when DVC's shell execs the stage (bash), 128 + 9 when the shell waits for it (dash, CI's /bin/sh)
    assert re.search(r"exited with (-9|137)\b", killed.stdout + killed.stderr), killed.stderr[-2000:]
    target = project.path / destination
    left = [path for path in target.parent.iterdir() if path.name.startswith(f".{target.name}.")]
    assert left, "the stage was not killed inside its atomic write"  # its temporary, complete but not moved

    # nothing partial anywhere: every output file is one the finished pipeline had, byte for byte (DVC removes a
    # stage's outputs before running it, so the killed stage's are absent)
    leftovers = {path.relative_to(project.path).as_posix() for path in left}
    after = {path: data for path, data in contents(project).items()
             if not any(path == temp or path.startswith(f"{temp}/") for temp in leftovers)}
    assert all(before.get(path) == data for path, data in after.items())
    assert untracked(project) == []  # the temporary is never something to commit

    recovered = project.dvc("repro")
    assert set(ran(recovered)) == {stage} | downstream, recovered.stdout  # a leftover changed no other stage's deps
    assert project.changed_stages() == set()
    assert not any(path.exists() for path in left)  # swept by the rerun
    final = contents(project)
    assert set(final) == set(before)
    unchanged = [path for path in before if not path.startswith(TIMED)
                 and not (downstream & RESUMED_MODEL_READERS and path.startswith(MODEL_GRAPHS))]
    assert all(final[path] == before[path] for path in unchanged)
    assert untracked(project) == []


KILLED_WRITER = '''\
import os, signal, sys
from fairvision.files import atomic_path
with atomic_path(sys.argv[1]) as file, atomic_path(sys.argv[2], directory=True) as folder:
    file.write_text("{\\"partial", encoding="utf-8")
    (folder / "saved_model.pb").write_bytes(b"partial")
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_temporaries_a_killed_writer_left_change_no_dependency_hash(reproduced_project: Project,
                                                                   tmp_path: Path) -> None:
    """The report depends on the folders audits/<D> and models/<D>; a writer killed in both leaves its temporaries
    there (a file and a folder); `dvc status` must still find everything up to date."""
    project = copy_project(reproduced_project, tmp_path / "project")
    file, folder = "audits/synthetic/small_cnn/fairness.json", "models/synthetic/small_cnn/seed-0"
    killed = project.run(sys.executable, "-c", KILLED_WRITER, file, folder, check=False)
    assert killed.returncode == -9, killed.stderr
    for path in (file, folder):
        target = project.path / path
        assert any(left.name.startswith(f".{target.name}.") for left in target.parent.iterdir())
    assert project.changed_stages() == set()
    assert untracked(project) == []


# --- The S3 server stopped ---------------------------------------------------------------------------------------


class StoppableS3:
    """Moto's S3 on a port of its own, stopped after a set number of requests and started again on the same port.

    Buckets live in moto's memory in this process, so those made through the session's server (`s3_server`) are
    served here too, and they survive a stop. ``stop_after(n, counts)`` lets ``n`` requests that ``counts`` through;
    at the next one (having read half its body, if it has one) the server drops every connection, that one first,
    without a response, and closes its port.
    """

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._app = DomainDispatcherApplication(create_backend_app)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._left: int | None = None
        self._counts: Callable[[str, str], bool] = lambda method, path: False
        self._stopped = threading.Event()
        self._closing: threading.Thread | None = None
        self._server = None
        self.start()

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        if self._closing is not None:
            self._closing.join()
        self._left, self._closing = None, None
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True,
                                   request_handler=MotoRequestHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._stopped.clear()

    def stop_after(self, requests: int, counts: Callable[[str, str], bool]) -> None:
        self._left, self._counts = requests, counts

    def stop(self) -> None:
        self._stopped.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def _wsgi(self, environ, start_response):
        with self._lock:
            if not self._stopped.is_set() and self._left is not None \
                    and self._counts(environ["REQUEST_METHOD"], environ["PATH_INFO"]):
                self._left -= 1
                if self._left < 0:
                    self._stopped.set()
                    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) // 2)
                    self._closing = threading.Thread(target=self.stop, daemon=True)
                    self._closing.start()
        if self._stopped.is_set():
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("the S3 server stopped")  # werkzeug drops the connection quietly
        return self._app(environ, start_response)


@pytest.fixture
def stoppable_s3(s3_server, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoppableS3]:
    """A stoppable S3 server, with the AWS environment (`s3_server`'s) pointing at it."""
    server = StoppableS3()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    yield server
    server.stop()


def the_error(stderr: str) -> str:
    """The one error line fairvision printed; no traceback beside it."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("fairvision: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_s3_server_stopped_mid_prepare(s3_server, stoppable_s3: StoppableS3, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    images = 20
    files = {f"{n:03d}.jpg": encode_image((200 if n % 2 else 30, n * 9, 90), size=16) for n in range(images)}
    annotations = {key: [{"label": ("cat", "dog")[n % 2]}] for n, key in enumerate(files)}
    files["_annotations.json"] = json.dumps({"version": "1.0", "type": "classification", "labels": ["cat", "dog"],
                                             "annotations": annotations}).encode()
    location = f"s3://{s3_server.bucket(files, prefix='export')}/export"
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text(encoding="utf-8"))
    params["datasets"] = {"pets": {"source": {"format": "cloud_annotations", "path": location}, "target": "label",
                                   "protected": [], "reference": {}, "intersections": []}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    # prepare reads every image twice, to validate it and then into the shards inside its atomic write: stop the
    # server halfway through the second reading
    stoppable_s3.stop_after(images + images // 2, lambda method, path: method == "GET" and path.endswith(".jpg"))
    assert main(["prepare"]) == 1
    assert stoppable_s3.stopped
    error = the_error(capsys.readouterr().err)
    assert location in error and stoppable_s3.endpoint in error, error
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == [tmp_path / "params.yaml"]  # nothing written

    stoppable_s3.start()
    assert main(["prepare"]) == 0
    out = tmp_path / "data/prepared/pets"
    assert sum(json.loads((out / "datasheet.json").read_text(encoding="utf-8"))["n_images"].values()) == images
    assert [path.name for path in out.parent.iterdir()] == ["pets"]


def remote_objects(s3_server, bucket: str) -> dict[str, bytes]:
    client = s3_server.client()
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])}


def assert_whole(objects: dict[str, bytes]) -> None:
    """Every object at DVC's content address files/md5/<2>/<30>[.dir] holds exactly the bytes of that md5, and every
    directory listing (.dir) is there only with all of its files."""
    md5s = set()
    for key, data in objects.items():
        *_, high, low = key.split("/")
        assert hashlib.md5(data).hexdigest() == high + low.removesuffix(".dir"), key
        md5s.add(high + low)
    for key, data in objects.items():
        if key.endswith(".dir"):
            assert {entry["md5"] for entry in json.loads(data)} <= md5s, key


def test_s3_server_stopped_mid_push(reproduced_project: Project, s3_server, stoppable_s3: StoppableS3,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore would retry every object against a closed port first
    project = copy_project(reproduced_project, tmp_path / "project")
    bucket = s3_server.bucket()
    project.dvc("remote", "add", "-d", "storage", f"s3://{bucket}/dvc")

    stoppable_s3.stop_after(10, lambda method, path: method == "PUT")
    pushed = project.dvc("push", check=False)
    assert pushed.returncode != 0 and stoppable_s3.stopped
    assert "Traceback" not in pushed.stderr and stoppable_s3.endpoint in pushed.stderr, pushed.stderr[-2000:]
    partial = remote_objects(s3_server, bucket)
    assert 0 < len(partial)  # stopped mid-push: some objects are there...
    assert_whole(partial)  # ...each of them whole

    stoppable_s3.start()
    assert "files pushed" in project.dvc("push").stdout
    assert json.loads(project.dvc("status", "-c", "--json").stdout or "{}") == {}  # cache and remote in sync
    complete = remote_objects(s3_server, bucket)
    assert len(complete) > len(partial)
    assert_whole(complete)


# --- A full disk ----------------------------------------------------------------------------------------------

FULL_DISK = '''\
set -e
mount -t tmpfs -o size="$3" tmpfs "$1"
cp -R "$2/." "$1/"
mounted=$1 result=$4
shift 4
set +e
"$@"
status=$?
cp -R "$mounted/." "$result/"
exit $status
'''


@pytest.fixture(scope="module")
def private_mounts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command prefix giving a private mount namespace where a tmpfs may be mounted: `unshare -m` as root,
    `unshare -rm` (a user namespace) otherwise. Root without one is a failure, not a skip: CI runs as root."""
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    folder = tmp_path_factory.mktemp("mount-probe")
    try:
        probe = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                               capture_output=True, text=True, timeout=60)
        problem = probe.stderr.strip() if probe.returncode else None
    except OSError as error:
        problem = str(error)
    if problem:
        message = (f"`{' '.join(prefix)} mount -t tmpfs` failed ({problem}); in a container, run it with "
                   "--cap-add SYS_ADMIN --security-opt apparmor=unconfined")
        if os.geteuid() == 0 or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return prefix


def tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


@pytest.mark.parametrize(("command", "mounted", "destination"), [
    (["prepare", "--dataset", "synthetic"], "data/prepared", "data/prepared/synthetic"),
    (["train", "small_cnn", "--dataset", "synthetic", "--seed", "0"], "models", "models/synthetic/small_cnn/seed-0"),
], ids=["prepare", "train"])
def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_output(
    reproduced_project: Project, private_mounts: list[str], tmp_path: Path, command: list[str], mounted: str,
    destination: str,
) -> None:
    """The output folder is a tmpfs holding the previous outputs, with room for half of a new one."""
    project = copy_project(reproduced_project, tmp_path / "project")
    previous = reproduced_project.path / mounted
    page = os.sysconf("SC_PAGE_SIZE")  # a tmpfs gives each file whole pages
    held = sum(-(-path.stat().st_size // page) * page for path in previous.rglob("*") if path.is_file())
    output = sum(path.stat().st_size for path in (reproduced_project.path / destination).rglob("*") if path.is_file())
    result = tmp_path / "left-on-the-disk"
    result.mkdir()
    stage = [sys.executable, "-m", f"fairvision.commands.{command[0]}", *command[1:]]
    full = project.run(*private_mounts, "sh", "-c", FULL_DISK, "full-disk", str(project.path / mounted),
                       str(previous), str(held + output // 2), str(result), *stage, check=False)
    assert full.returncode == 1, full.stderr[-3000:]
    error = the_error(full.stderr)
    assert error == f"fairvision: error: {destination}: no space left on device; it was not written (what was " \
                    "there before is unchanged): free some space on its filesystem and run again", full.stderr
    assert tree(result) == tree(previous)  # the previous outputs, byte for byte, and nothing else
