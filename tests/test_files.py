"""Atomic writes (fairvision/files.py): complete or absent, never half-replaced; what a killed writer leaves is
ignored by git and DVC and swept by the next write; a full disk is one clear error naming the destination.

Writers are killed for real (SIGKILL, in a child process) at a chosen point: inside the write, or at the first file
removed while an older directory is replaced.
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fairvision.command import Command, Parser, execute
from fairvision.errors import FairvisionError
from fairvision.files import TEMP_SUFFIX, atomic_path, write_text

ROOT = Path(__file__).resolve().parents[1]


def child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python process with ``args`` as sys.argv[1:]."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)


KILLED_INSIDE = '''\
import os, signal, sys
from fairvision.files import atomic_path
with atomic_path(sys.argv[1]) as file, atomic_path(sys.argv[2], directory=True) as folder:
    file.write_text("partial", encoding="utf-8")
    (folder / "part").write_text("partial", encoding="utf-8")
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_what_a_killed_writer_left_is_swept_by_the_next_write(tmp_path: Path) -> None:
    killed = child(KILLED_INSIDE, str(tmp_path / "a.json"), str(tmp_path / "model"))
    assert killed.returncode == -9, killed.stderr
    assert len(list(tmp_path.iterdir())) == 2  # a temporary file and a temporary folder, hidden
    write_text(tmp_path / "b.json", "{}\n")
    assert [path.name for path in tmp_path.iterdir()] == ["b.json"]
    assert (tmp_path / "b.json").read_text(encoding="utf-8") == "{}\n"


LIVE_WRITER = '''\
import sys
from fairvision.files import atomic_path
with atomic_path(sys.argv[1]) as file:
    file.write_text("whole", encoding="utf-8")
    print(file.name, flush=True)
    sys.stdin.readline()  # the test writes beside it meanwhile
'''


def test_a_temporary_still_being_written_is_not_swept(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(tmp_path / "slow.json")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        temporary = tmp_path / writer.stdout.readline().strip()
        assert temporary.is_file()
        write_text(tmp_path / "quick.json", "{}\n")  # sweeps the folder: the live writer's temporary stays
        assert temporary.is_file()
        writer.stdin.write("\n")
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["quick.json", "slow.json"]
    assert (tmp_path / "slow.json").read_text(encoding="utf-8") == "whole"


KILLED_REPLACING = '''\
import os, signal, sys
from pathlib import Path
from fairvision.files import atomic_path
with atomic_path(sys.argv[1], directory=True) as folder:
    for name in ("a", "b", "c"):
        (folder / name).write_text("new", encoding="utf-8")
    unlink = os.unlink
    def killing(*args, **kwargs):  # the first file removed from here on: the older directory's
        unlink(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    os.unlink = killing
'''


def test_a_directory_is_never_half_replaced(tmp_path: Path) -> None:
    destination = tmp_path / "model"
    destination.mkdir()
    for name in ("a", "b", "c"):
        (destination / name).write_text("old", encoding="utf-8")
    killed = child(KILLED_REPLACING, str(destination))
    assert killed.returncode == -9, killed.stderr
    contents = {path.name: path.read_text(encoding="utf-8") for path in destination.iterdir()}
    assert contents in ({"a": "old", "b": "old", "c": "old"}, {"a": "new", "b": "new", "c": "new"})


def test_a_directory_that_cannot_be_moved_into_place_leaves_the_older_one(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    destination = tmp_path / "model"
    destination.mkdir()
    (destination / "a").write_text("old", encoding="utf-8")

    def refused(*_args, **_kwargs):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    with pytest.raises(OSError, match=os.strerror(errno.EXDEV)):
        with atomic_path(destination, directory=True) as folder:
            (folder / "a").write_text("new", encoding="utf-8")
            monkeypatch.setattr(os, "replace", refused)
    monkeypatch.undo()
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
    assert (destination / "a").read_text(encoding="utf-8") == "old"


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),
    RuntimeError(f"shards/train.tfrecord; {os.strerror(errno.ENOSPC)}"),  # TensorFlow's ResourceExhaustedError
], ids=["ENOSPC", "EDQUOT", "library"])
@pytest.mark.parametrize("directory", [False, True], ids=["file", "folder"])
def test_a_full_disk_names_the_destination_and_keeps_what_was_there(tmp_path: Path, failure: Exception,
                                                                    directory: bool) -> None:
    destination = tmp_path / "out"
    if directory:
        destination.mkdir()
        (destination / "old").write_text("old", encoding="utf-8")
    else:
        destination.write_text("old", encoding="utf-8")
    with pytest.raises(FairvisionError) as caught:
        with atomic_path(destination, directory=directory) as tmp:
            if directory:
                with atomic_path(tmp / "inner.json"):  # a nested write: the outer destination is named
                    raise failure
            raise failure
    assert str(caught.value) == (f"{destination}: no space left on device; it was not written (what was there "
                                 "before is unchanged): free some space on its filesystem and run again")
    assert caught.value.__cause__ is not None  # the original stays reachable for debugging
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    kept = destination / "old" if directory else destination
    assert kept.read_text(encoding="utf-8") == "old"


def test_other_failures_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        with atomic_path(tmp_path / "out"):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
    assert caught.value.errno == errno.EACCES and not isinstance(caught.value, FairvisionError)
    assert list(tmp_path.iterdir()) == []


def _failing_command(error: BaseException) -> Command:
    def run(_params, _args: argparse.Namespace) -> int:
        raise error

    return Command(name="fail", help="", description="", add_arguments=lambda parser: None, run=run, params=False,
                   one_dataset=False)


def test_the_cli_reports_a_full_disk_outside_atomic_writes_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A cache, checkpoint or library file filling the disk: one line naming the file, the failure status."""
    command = _failing_command(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "cache/train.data"))
    assert execute(command.configure(Parser(prog="fairvision fail")), []) == 1
    assert capsys.readouterr().err == ("fairvision: error: cache/train.data: no space left on device: free some "
                                       "space on its filesystem and run again\n")

    command = _failing_command(RuntimeError("a bug"))  # anything else keeps its traceback
    with pytest.raises(RuntimeError, match="a bug"):
        execute(command.configure(Parser(prog="fairvision fail")), [])


def test_temporaries_are_ignored_by_git_and_dvc(tmp_path: Path) -> None:
    """A leftover's name, as atomic_path makes it, matches the project's .gitignore and .dvcignore wherever it is."""
    from dvc.fs import LocalFileSystem
    from dvc.ignore import DvcIgnorePatterns

    with atomic_path(tmp_path / "fairness.json") as file, atomic_path(tmp_path / "seed-0", directory=True) as folder:
        names = [(file.name, False), (folder.name, True)]
    assert all(name.endswith(TEMP_SUFFIX) for name, _ in names)
    repository = tmp_path / "repository"  # the project's .gitignore, in a repository of its own
    repository.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repository, check=True)
    (repository / ".gitignore").write_bytes((ROOT / ".gitignore").read_bytes())
    ignore = DvcIgnorePatterns.from_file(str(ROOT / ".dvcignore"), LocalFileSystem(), ".dvcignore")
    for name, is_dir in names:
        path = f"audits/synthetic/small_cnn/{name}"
        checked = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=repository)
        assert checked.returncode == 0, f"{path} is not git-ignored"
        assert ignore.matches(str(ROOT / "audits/synthetic/small_cnn"), name, is_dir), f"{path} is not dvc-ignored"
