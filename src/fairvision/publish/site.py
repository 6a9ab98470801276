"""The published site: where each file goes, and the history of runs every page is rebuilt from.

Layout under DEST (a folder or ``s3://bucket/prefix``)::

    index.html              every run, newest first, with links to its pages and to the trend pages
    history.json            every run, newest first: identity, date, files and each backbone's summary
    runs/<run>/             one run's reports as `fairvision report` wrote them (pages, cards, badges),
                            each card stamped with the run (``stamped_card``)
    trends/<D>/<B>.html     one page per dataset × backbone: its figures over the runs
    latest/<D>/*.svg        the badges of dataset D's newest clean run (badge.svg, <B>.badge.svg), at a
                            stable address for a README

``<run>`` is ``RunIdentity.folder_name``: date first, so the folders sort by date. history.json is
the site's memory: publishing adds a run to it (once: a run already there is found by its
identity) and rebuilds index.html and the trend pages from it alone.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping

from fairvision.errors import FairvisionError
from fairvision.files import strict_json
from fairvision.jsonread import JsonReader
from fairvision.publish.identity import RunIdentity
from fairvision.publish.summary import BackboneSummary, read_summary

HISTORY, INDEX = "history.json", "index.html"
SCHEMA_VERSION = 1  # of history.json; another version is refused rather than misread
CARD_SUFFIX, BADGE_SUFFIX, BADGE = ".card.json", ".badge.svg", "badge.svg"  # as the report stage names them


@dataclasses.dataclass(frozen=True)
class Run:
    """One published run: who it is, when, which files its folder holds, and its backbones in brief."""

    name: str  # its folder under runs/
    identity: RunIdentity
    date: str  # identity.DATE_FORMAT
    files: tuple[str, ...]
    backbones: Mapping[str, BackboneSummary]

    def as_json(self) -> dict[str, Any]:
        identity = self.identity
        return {"name": self.name, "dataset": identity.dataset, "git_revision": identity.git_revision,
                "dirty": identity.dirty, "params_sha256": identity.params_sha256,
                "reports_sha256": identity.reports_sha256, "date": self.date, "files": list(self.files),
                "backbones": {name: summary.as_json() for name, summary in self.backbones.items()}}


def run_key(run: str, name: str) -> str:
    """The key of file ``name`` of run folder ``run``, relative to the site's root."""
    return f"runs/{run}/{name}"


def trend_key(dataset: str, backbone: str) -> str:
    return f"trends/{dataset}/{backbone}.html"


def latest_badges(runs: Iterable[Run]) -> dict[str, str]:
    """``latest/<D>/<badge>`` -> the key of that badge in dataset D's newest clean run (``runs`` newest first).

    Dirty runs are left out: a README's badge shows what a commit gives, not a local experiment.
    """
    newest: dict[str, Run] = {}
    for run in runs:
        if not run.identity.dirty:
            newest.setdefault(run.identity.dataset, run)
    return {f"latest/{dataset}/{name}": run_key(run.name, name) for dataset, run in newest.items()
            for name in run.files if name == BADGE or name.endswith(BADGE_SUFFIX)}


def find(runs: Iterable[Run], identity: RunIdentity) -> Run | None:
    """The run already published with ``identity``'s key, if any."""
    return next((run for run in runs if run.identity.key == identity.key), None)


def with_run(runs: Iterable[Run], run: Run) -> list[Run]:
    """``runs`` and ``run``, newest first (by date, then folder name, so the order never depends on input order).

    Raises:
        FairvisionError: another run already has ``run``'s folder name (two identities whose short hashes agree).
    """
    runs = list(runs)
    clash = next((other for other in runs if other.name == run.name), None)
    if clash is not None:
        raise FairvisionError(f"run folder {run.name} is already taken by another run (revision "
                              f"{clash.identity.git_revision}, params {clash.identity.params_sha256}); not published")
    return sorted([*runs, run], key=lambda item: (item.date, item.name), reverse=True)


def history_json(runs: Iterable[Run]) -> bytes:
    """history.json's bytes: indented, keys in a fixed order, so the same history gives the same bytes."""
    data = {"schema_version": SCHEMA_VERSION, "runs": [run.as_json() for run in runs]}
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def read_history(data: bytes | None, source: str) -> list[Run]:
    """The runs of a history.json's bytes (None: no site yet, so no runs); errors name ``source`` and the key."""
    if data is None:
        return []
    try:
        parsed = strict_json(data)
    except ValueError as error:
        raise FairvisionError(f"{source}: not valid JSON ({error}); the site's pages are rebuilt from it, so restore "
                              "it (or remove it to start a new history)") from None
    reader = JsonReader(source)
    parsed = reader.mapping(parsed, "", ("schema_version", "runs"))
    if parsed["schema_version"] != SCHEMA_VERSION:
        raise FairvisionError(f"{source}: `schema_version` is {parsed['schema_version']!r}; this fairvision reads "
                              f"version {SCHEMA_VERSION}")
    return [_read_run(reader, entry, f"runs[{i}]") for i, entry in enumerate(reader.sequence(parsed, "runs"))]


def stamped_card(data: bytes, run: Run, source: str) -> bytes:
    """A card's bytes with ``published`` added: the run's folder, git revision (and whether the tree was dirty),
    params hash and date.

    The report stage cannot write the revision itself: a DVC output that changed with every commit would
    never be up to date. Publishing is where a card meets its revision, so the published copy carries it.
    """
    try:
        card = strict_json(data)
    except ValueError as error:
        raise FairvisionError(f"{source}: not valid JSON ({error}); run `dvc repro` to write the reports again") \
            from None
    identity = run.identity
    card["published"] = {"run": run.name, "git_revision": identity.git_revision, "dirty": identity.dirty,
                         "params_sha256": identity.params_sha256, "date": run.date}
    return (json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _read_run(reader: JsonReader, data: Any, where: str) -> Run:
    data = reader.mapping(data, where, ("name", "dataset", "git_revision", "dirty", "params_sha256",
                                        "reports_sha256", "date", "files", "backbones"))
    identity = RunIdentity(dataset=data["dataset"], git_revision=data["git_revision"],
                           params_sha256=data["params_sha256"], dirty=reader.flag(data["dirty"], f"{where}.dirty"),
                           reports_sha256=data["reports_sha256"])
    backbones = reader.mapping(data["backbones"], f"{where}.backbones")
    return Run(name=data["name"], identity=identity, date=data["date"],
               files=tuple(reader.sequence(data, "files", where)),
               backbones={name: read_summary(reader, summary, f"{where}.backbones.{name}")
                          for name, summary in backbones.items()})
