"""Which run a folder of reports is: the git revision, the dataset, the params, and for a dirty tree the content.

A run is one dataset's reports (``reports/<D>/``). Its identity is the git revision, the dataset and
the SHA-256 of params.yaml's content (parsed, so comments and layout do not count): publishing the
same run again finds it in the site's history and changes nothing. A work tree with changes
(``git status --porcelain`` not empty: edited, staged or untracked files) is not described by its
revision, so a dirty run's identity adds the SHA-256 of its reports folder: the same dirty reports
published twice are one run, and reports that differ in any byte are a new run each time.

A run's date orders the site: for a clean run, its commit's committer date, so the same run always
gets the same folder name; a dirty run has no commit of its own, so it takes the moment it is first
published (the site's history keeps it, so publishing it again keeps the date).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
from pathlib import Path

from fairvision.errors import FairvisionError
from fairvision.params import read_params_file

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, to the second: how history.json and the cards write a run's date
_NAME_DATE = "%Y%m%dT%H%M%SZ"  # the same instant in a folder name: sortable, no colons
SHORT = 12  # hex digits of a revision or hash in a folder name


@dataclasses.dataclass(frozen=True)
class GitState:
    """The work tree's commit (``revision``, 40 hex digits), its committer date (UTC) and whether it has changes."""

    revision: str
    committed: datetime.datetime
    dirty: bool


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """What makes two publications the same run (see the module docstring)."""

    dataset: str
    git_revision: str
    params_sha256: str
    dirty: bool
    reports_sha256: str  # always recorded; part of the identity only for a dirty run

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.dataset, self.git_revision, self.params_sha256, self.reports_sha256 if self.dirty else None

    def folder_name(self, date: datetime.datetime) -> str:
        """``<date>-<revision>[-dirty-<reports hash>]-<dataset>-<params hash>``: sorted by name is sorted by date."""
        dirty = f"-dirty-{self.reports_sha256[:SHORT]}" if self.dirty else ""
        return (f"{date.astimezone(datetime.timezone.utc):{_NAME_DATE}}-{self.git_revision[:SHORT]}{dirty}-"
                f"{self.dataset}-{self.params_sha256[:SHORT]}")


def git_state(repo: str | os.PathLike[str]) -> GitState:
    """The revision checked out in ``repo``, its committer date and whether the work tree differs from it.

    Raises:
        FairvisionError: git is not installed, or ``repo`` is not a git work tree with a commit.
    """
    revision, timestamp = _git(repo, "log", "-1", "--format=%H %ct").split()
    changes = _git(repo, "status", "--porcelain")
    committed = datetime.datetime.fromtimestamp(int(timestamp), tz=datetime.timezone.utc)
    return GitState(revision=revision, committed=committed, dirty=bool(changes.strip()))


def params_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the parameters file's content: its YAML parsed and written as canonical JSON."""
    data = read_params_file(path).data
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                     default=str).encode("utf-8")).hexdigest()


def _git(repo: str | os.PathLike[str], *arguments: str) -> str:
    try:
        result = subprocess.run(["git", "-C", os.fspath(repo), *arguments], capture_output=True, text=True,
                                check=False)
    except FileNotFoundError:
        raise FairvisionError("git is not installed: `fairvision publish` names each run by its git revision") \
            from None
    if result.returncode != 0:
        said = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
        raise FairvisionError(f"{Path(repo).resolve()}: `git {' '.join(arguments)}` failed ({said}): publish from a "
                              "git work tree with at least one commit; each run is named by its revision")
    return result.stdout
