"""Publish reports into a site: each new run's folder first, then the trend pages, history.json and index.html.

The order is the guarantee that the site never links a missing file, whatever stops a publish
midway (a network failure, a full disk, a killed process). A new run's files are all written
before anything names it: a run folder cut short is linked from nowhere, and the next publish
writes it whole again (the run is not in history yet). Trend pages and the latest badges come
next (they name only runs whose folders are complete), then history.json, and index.html last:
until it is replaced, the old index names only the old runs, whose files are all there. Every
file is written whole (see ``fairvision.publish.target``).

Publishing is idempotent: a run already in history (``RunIdentity.key``) is not written again,
and a site file is written only where its bytes change, so publishing the same run twice
writes nothing. A publish that stopped midway is completed by running it again. The trend
pages of a dataset are drawn again when it gains a run (charts are the slow part); index.html
and history.json every time.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from pathlib import Path
from typing import Callable, Mapping

from fairvision.digest import folder_files, folder_sha256
from fairvision.errors import FairvisionError
from fairvision.files import strict_json
from fairvision.publish.identity import DATE_FORMAT, GitState, RunIdentity
from fairvision.publish.pages import index_page, trend_pages
from fairvision.publish.site import (CARD_SUFFIX, HISTORY, INDEX, Run, find, history_json, latest_badges,
                                     read_history, run_key, stamped_card, with_run)
from fairvision.publish.summary import BackboneSummary, summarize
from fairvision.publish.target import Target, open_target

log = logging.getLogger("fairvision")

Clock = Callable[[], datetime.datetime]


@dataclasses.dataclass(frozen=True)
class Published:
    """One dataset's reports: the run they are in the site, and whether this publish added it (False: it was there)."""

    run: Run
    added: bool


def publish(dest: str, reports: Mapping[str, str | os.PathLike[str]], git: GitState, params_sha256: str,
            now: Clock = lambda: datetime.datetime.now(datetime.timezone.utc)) -> list[Published]:
    """Publish each dataset's report folder (``reports``: dataset -> folder) as a run of the site at ``dest``.

    Args:
        dest: the site, a folder or ``s3://bucket/prefix`` (``fairvision.publish.target.open_target``).
        reports: each dataset's report folder, as `fairvision report` wrote it.
        git: the work tree's state (``identity.git_state``); a dirty tree's runs are keyed by their content too.
        params_sha256: ``identity.params_sha256`` of the params file the reports were made with.
        now: the clock that dates a dirty run when it is first published.

    Returns:
        Each dataset's run, in the order of ``reports``.

    Raises:
        FairvisionError: a report folder without cards ("run `dvc repro` first"), a card that cannot be read, a
            site that cannot be reached, read or written, or a history.json that cannot be read.
    """
    files = {dataset: _report_files(Path(folder)) for dataset, folder in reports.items()}
    backbones = {dataset: _summaries(Path(folder), files[dataset]) for dataset, folder in reports.items()}
    target = open_target(dest)  # only once every card has been read: a bad one leaves no trace at dest
    runs = read_history(target.read(HISTORY), f"{target.location}/{HISTORY}")
    published = []
    for dataset, folder in reports.items():
        identity = RunIdentity(dataset=dataset, git_revision=git.revision, params_sha256=params_sha256,
                               dirty=git.dirty, reports_sha256=folder_sha256(folder))
        existing = find(runs, identity)
        if existing is not None:
            _already(existing, identity, target)
            published.append(Published(existing, added=False))
            continue
        date = (now() if git.dirty else git.committed).astimezone(datetime.timezone.utc)
        run = Run(name=identity.folder_name(date), identity=identity, date=date.strftime(DATE_FORMAT),
                  files=tuple(files[dataset]), backbones=backbones[dataset])
        runs = with_run(runs, run)  # refuses a folder name already taken, before anything is written
        _upload(target, run, Path(folder))
        published.append(Published(run, added=True))
    added = {result.run.identity.dataset for result in published if result.added}
    pages = {key: page.encode("utf-8") for key, page in trend_pages(runs, added).items()}
    badges = {key: _read(target, source) for key, source in latest_badges(runs).items()}
    site = pages | badges | {HISTORY: history_json(runs), INDEX: index_page(runs).encode("utf-8")}  # write order
    for key, data in site.items():
        if target.read(key) != data:
            target.write(key, data)
            log.info("publish: wrote %s/%s", target.location, key)
    return published


def _read(target: Target, key: str) -> bytes:
    """A file history.json lists, which must be there (every run's files are written before it is listed)."""
    data = target.read(key)
    if data is None:
        raise FairvisionError(f"{target.location}/{key}: missing, yet history.json lists it (was the site edited by "
                              "hand?); restore it, or remove its run from history.json")
    return data


def _report_files(folder: Path) -> list[str]:
    """The files of a report folder, which must hold at least one card."""
    if not folder.is_dir():
        raise FairvisionError(f"{folder}: no reports yet; run `dvc repro` first (its report stage writes them)")
    names = folder_files(folder)
    if not any(name.endswith(CARD_SUFFIX) and "/" not in name for name in names):
        raise FairvisionError(f"{folder}: no report card (<B>{CARD_SUFFIX}) in it; run `dvc repro` first")
    return names


def _summaries(folder: Path, files: list[str]) -> dict[str, BackboneSummary]:
    """Each card of a report folder, by backbone, summarized for the index and trends."""
    summaries = {}
    for name in files:
        if name.endswith(CARD_SUFFIX) and "/" not in name:
            path = folder / name
            try:
                card = strict_json(path.read_bytes())
            except (OSError, ValueError) as error:
                raise FairvisionError(f"{path}: cannot read the card ({error}); run `dvc repro` first") from None
            summaries[name[:-len(CARD_SUFFIX)]] = summarize(card, str(path))
    return summaries


def _upload(target: Target, run: Run, folder: Path) -> None:
    """Write every file of ``run`` into its folder; cards are stamped with the run."""
    order = run.files
    for number, name in enumerate(order, 1):
        data = (folder / name).read_bytes()
        if name.endswith(CARD_SUFFIX) and "/" not in name:
            data = stamped_card(data, run, str(folder / name))
        key = run_key(run.name, name)
        target.write(key, data)
        log.info("publish: [%d/%d] %s/%s (%s)", number, len(order), target.location, key, _size(len(data)))


def _already(run: Run, identity: RunIdentity, target: Target) -> None:
    """Say that a run is published already, and whether these reports differ from the published ones."""
    log.info("publish: %s: already published as %s/%s", identity.dataset, target.location, run_key(run.name, INDEX))
    if run.identity.reports_sha256 != identity.reports_sha256:
        log.warning("publish: %s: these reports differ from the published run's (same revision and params: made "
                    "on another machine?); the published run is kept", identity.dataset)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
