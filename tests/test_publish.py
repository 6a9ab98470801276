"""`fairvision publish`: runs, history, index and trend pages in a folder and on a real S3 server (moto).

Each test makes a small git repository holding params.yaml and (ignored, as in the project)
reports/<D>/, with cards assembled by the report's own ``model_card`` from test_report's
hand-made inputs, and publishes it as the CLI would: the real git, the real targets.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import jsonschema
import pytest
from test_report import BACKBONES, write_inputs

from fairvision.cli import main
from fairvision.errors import FairvisionError
from fairvision.publish import target as targets
from fairvision.publish.build import publish
from fairvision.publish.identity import git_state, params_sha256
from fairvision.publish.summary import summarize
from fairvision.report.badge import backbone_badge, overall_badge
from fairvision.report.card import model_card
from fairvision.report.inputs import read_backbone, read_datasheet

ROOT = Path(__file__).resolve().parents[1]
DATASET = "synthetic"
NOW = datetime.datetime(2026, 12, 4, 12, 30, 5, tzinfo=datetime.timezone.utc)
RUN_NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}(-dirty-[0-9a-f]{12})?-synthetic-[0-9a-f]{12}$")


# --- fixtures: cards, a git repository, a site in a folder or a bucket ----------------------------


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """test_report's two backbones as the report stage's cards (small_cnn fails race, mobilenet_v2 inconclusive)."""
    inputs = write_inputs(tmp_path_factory.mktemp("inputs"))
    datasheet = read_datasheet(inputs["datasheet_path"])
    return {backbone: model_card(backbone, read_backbone(backbone, inputs["audits_dir"], inputs["models_dir"],
                                                         inputs["training_dir"], inputs["timings_dir"]),
                                 datasheet, manifest_sha256="a" * 64, model_sha256=f"{i}" * 64)
            for i, backbone in enumerate(BACKBONES)}


def write_reports(folder: Path, cards: dict[str, dict[str, Any]]) -> Path:
    """reports/<D>/ as the report stage lays it out (the pages here are stand-ins: publish copies them as they are)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for backbone, card in cards.items():
        (folder / f"{backbone}.card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        (folder / f"{backbone}.html").write_text(f'<a href="index.html">{backbone}</a>\n')
        (folder / f"{backbone}.badge.svg").write_text(backbone_badge(backbone, card))
    (folder / "index.html").write_text("".join(f'<a href="{b}.html">{b}</a>\n' for b in cards))
    (folder / "badge.svg").write_text(overall_badge(cards))
    return folder


def _git(repo: Path, *args: str, date: str = "2026-11-01T09:00:00Z") -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
           "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


class Repo:
    """A project checkout: params.yaml committed, reports/ ignored (a DVC output), as in the project."""

    def __init__(self, path: Path, cards: dict[str, dict[str, Any]]) -> None:
        self.path = path
        path.mkdir()
        shutil.copy(ROOT / "params.yaml", path / "params.yaml")
        (path / ".gitignore").write_text("/reports\n")
        _git(path, "init", "-q")
        self.commit("first", "2026-11-01T09:00:00Z")
        self.reports = write_reports(path / "reports" / DATASET, cards)

    def commit(self, message: str, date: str) -> str:
        (self.path / "CHANGES").write_text(message)
        _git(self.path, "add", "-A")
        _git(self.path, "commit", "-q", "-m", message, date=date)
        return _git(self.path, "rev-parse", "HEAD").strip()

    def publish(self, dest: str, now: datetime.datetime = NOW) -> list[Any]:
        return publish(dest, {DATASET: self.reports}, git_state(self.path), params_sha256(self.path / "params.yaml"),
                       now=lambda: now)


@pytest.fixture
def repo(tmp_path: Path, cards: dict[str, dict[str, Any]]) -> Repo:
    return Repo(tmp_path / "project", cards)


class Site:
    """A published site read back as a client would: its keys and their bytes, in a folder or a bucket."""

    def __init__(self, dest: str, keys: Callable[[], set[str]], read: Callable[[str], bytes]) -> None:
        self.dest, self.keys, self.read = dest, keys, read

    def json(self, key: str) -> Any:
        return json.loads(self.read(key))

    def text(self, key: str) -> str:
        return self.read(key).decode("utf-8")

    def snapshot(self) -> dict[str, bytes]:
        return {key: self.read(key) for key in sorted(self.keys())}

    def broken_links(self) -> list[str]:
        """Every link or picture, on every page a reader can reach from index.html, whose file is not there."""
        keys, broken = self.keys(), []
        todo, seen = ["index.html"], {"index.html"}
        while todo:
            page = todo.pop()
            for href in re.findall(r'(?:href|src)="([^"#]+)"', self.text(page)):
                target = _resolve(page, unquote(href))
                if target not in keys:
                    broken.append(f"{page} -> {href}")
                elif target.endswith(".html") and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return broken


def _resolve(page: str, href: str) -> str:
    parts = page.split("/")[:-1]
    for part in href.split("/"):
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _folder_site(path: Path) -> Site:
    return Site(str(path), lambda: {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()},
                lambda key: (path / key).read_bytes())


def _s3_site(server: Any) -> Site:
    bucket = server.bucket()
    client = server.client()

    def keys() -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="site/")
        return {item["Key"][len("site/"):] for page in pages for item in page.get("Contents", [])}

    return Site(f"s3://{bucket}/site", keys,
                lambda key: client.get_object(Bucket=bucket, Key=f"site/{key}")["Body"].read())


def _site(kind: str, request: pytest.FixtureRequest) -> Site:
    """An empty site: a folder, or a prefix of a fresh bucket on the moto server."""
    if kind == "folder":
        return _folder_site(request.getfixturevalue("tmp_path") / "site")
    return _s3_site(request.getfixturevalue("s3_server"))


@pytest.fixture(params=["folder", "s3"])
def site(request: pytest.FixtureRequest) -> Site:
    return _site(request.param, request)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys every target writes, in order (the targets still write)."""
    written: list[str] = []
    for kind in (targets.FolderTarget, targets.S3Target):
        original = kind.write

        def spy(self: Any, key: str, data: bytes, original: Any = original) -> None:
            original(self, key, data)
            written.append(key)
        monkeypatch.setattr(kind, "write", spy)
    return written


def _fail_after(monkeypatch: pytest.MonkeyPatch, count: int, written: list[str]) -> None:
    """Make every target's write fail after ``count`` more writes succeed, as a dropped connection would."""
    for kind in (targets.FolderTarget, targets.S3Target):
        original = kind.write

        def failing(self: Any, key: str, data: bytes, original: Any = original) -> None:
            if len(written) >= count:
                raise FairvisionError(f"{self.location}: {key}: S3 request failed (EndpointConnectionError)")
            original(self, key, data)
            written.append(key)
        monkeypatch.setattr(kind, "write", failing)


def _second_run(repo: Repo, cards: dict[str, dict[str, Any]]) -> str:
    """A later commit whose small_cnn is less accurate: another run."""
    later = copy.deepcopy(cards)
    later["small_cnn"]["quantitative_analyses"]["overall_accuracy"] = 0.75
    write_reports(repo.reports, later)
    return repo.commit("second", "2026-11-20T10:00:00Z")


# --- one run: layout, stamp, idempotence ------------------------------------------------------------


def test_a_run_is_published_with_its_files_history_index_and_trends(repo: Repo, site: Site) -> None:
    [result] = repo.publish(site.dest)
    revision = git_state(repo.path).revision
    name = result.run.name
    assert result.added and RUN_NAME.match(name) and name.startswith(f"20261101T090000Z-{revision[:12]}-synthetic-")
    reports = sorted(path.name for path in repo.reports.iterdir())
    badges = [file for file in reports if file.endswith("badge.svg")]
    assert site.keys() == ({"index.html", "history.json"} | {f"trends/synthetic/{b}.html" for b in BACKBONES}
                           | {f"runs/{name}/{file}" for file in reports} | {f"latest/synthetic/{b}" for b in badges})
    for file in reports:
        if not file.endswith(".card.json"):
            assert site.read(f"runs/{name}/{file}") == (repo.reports / file).read_bytes(), file
    card = site.json(f"runs/{name}/small_cnn.card.json")
    assert card["published"] == {"run": name, "git_revision": revision, "dirty": False,
                                 "params_sha256": params_sha256(repo.path / "params.yaml"),
                                 "date": "2026-11-01T09:00:00Z"}
    assert {key: value for key, value in card.items() if key != "published"} == json.loads(
        (repo.reports / "small_cnn.card.json").read_text())
    schema = json.loads((ROOT / "src/fairvision/report/card.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(card)  # the stamp is the schema's optional `published`
    history = site.json("history.json")
    assert history["schema_version"] == 1 and [run["name"] for run in history["runs"]] == [name]
    small = history["runs"][0]["backbones"]["small_cnn"]
    assert small["verdict"] == "fail" and small["worst_accuracy_gap"]["race"]["group"] == "Latino_Hispanic"
    assert site.broken_links() == []


def test_publishing_the_same_run_again_writes_nothing(repo: Repo, site: Site, writes: list[str]) -> None:
    repo.publish(site.dest)
    before, count = site.snapshot(), len(writes)
    [again] = repo.publish(site.dest)
    assert not again.added and len(writes) == count  # no object written, not even the same bytes
    assert site.snapshot() == before and len(site.json("history.json")["runs"]) == 1


def test_a_later_revision_is_a_second_run_newest_first_in_index_and_trends(
        repo: Repo, site: Site, cards: dict[str, dict[str, Any]]) -> None:
    [first] = repo.publish(site.dest)
    revision = _second_run(repo, cards)
    [second] = repo.publish(site.dest)
    assert second.added and second.run.name.startswith(f"20261120T100000Z-{revision[:12]}-")
    assert [run["name"] for run in site.json("history.json")["runs"]] == [second.run.name, first.run.name]
    index = site.text("index.html")
    assert re.findall(r'<tr data-run="([^"]+)"', index) == [second.run.name, first.run.name]
    trend = site.text("trends/synthetic/small_cnn.html")
    assert re.findall(r'<tr data-run="([^"]+)"', trend) == [second.run.name, first.run.name]
    assert "75.0%" in trend and "90.0%" in trend and trend.count("<svg") == 4  # accuracy, verdicts, race, age
    assert f"<title>2026-11-20 {revision[:7]}: accuracy 75.0%</title>" in trend  # the newest point's tooltip
    assert site.broken_links() == []


def test_a_dirty_tree_is_marked_and_keyed_by_its_reports(
        repo: Repo, site: Site, cards: dict[str, dict[str, Any]]) -> None:
    (repo.path / "notes.txt").write_text("uncommitted")  # untracked: `git status --porcelain` is not empty
    [first] = repo.publish(site.dest)
    assert first.run.identity.dirty and "-dirty-" in first.run.name and first.run.date == "2026-12-04T12:30:05Z"
    [same] = repo.publish(site.dest, now=NOW + datetime.timedelta(hours=1))
    assert not same.added and same.run == first.run  # the same content: the same run, first date kept
    changed = copy.deepcopy(cards)
    changed["mobilenet_v2"]["quantitative_analyses"]["overall_accuracy"] = 0.5
    write_reports(repo.reports, changed)
    [other] = repo.publish(site.dest, now=NOW + datetime.timedelta(hours=2))
    assert other.added and other.run.name != first.run.name
    assert site.json(f"runs/{first.run.name}/small_cnn.card.json")["published"]["dirty"] is True
    assert len(site.json("history.json")["runs"]) == 2
    assert site.text("index.html").count('class="badge dirty"') == 2


def test_other_reports_of_a_published_clean_run_keep_the_published_one(
        repo: Repo, tmp_path: Path, cards: dict[str, dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    dest = str(tmp_path / "site")
    repo.publish(dest)
    before = _folder_site(tmp_path / "site").snapshot()
    changed = copy.deepcopy(cards)
    changed["small_cnn"]["quantitative_analyses"]["overall_accuracy"] = 0.5  # same revision, another machine's run
    write_reports(repo.reports, changed)
    [result] = repo.publish(dest)
    assert not result.added and _folder_site(tmp_path / "site").snapshot() == before
    assert "these reports differ from the published run's" in caplog.text


def test_the_latest_badges_are_the_newest_clean_runs(
        repo: Repo, tmp_path: Path, cards: dict[str, dict[str, Any]]) -> None:
    site = _folder_site(tmp_path / "site")
    [first] = repo.publish(site.dest)
    assert site.read("latest/synthetic/badge.svg") == (repo.reports / "badge.svg").read_bytes()
    worse = copy.deepcopy(cards)
    worse["mobilenet_v2"]["verdict"] |= {
        "overall": "fail", "comparisons": {"pass": 1, "fail": 2, "inconclusive": 0, "insufficient_data": 0}}
    write_reports(repo.reports, worse)
    repo.commit("worse", "2026-11-20T10:00:00Z")
    [second] = repo.publish(site.dest)
    for name in ("badge.svg", "mobilenet_v2.badge.svg", "small_cnn.badge.svg"):
        assert site.read(f"latest/synthetic/{name}") == site.read(f"runs/{second.run.name}/{name}"), name
    assert site.read("latest/synthetic/badge.svg") != site.read(f"runs/{first.run.name}/badge.svg")
    write_reports(repo.reports, cards)
    (repo.path / "notes.txt").write_text("uncommitted")
    [dirty] = repo.publish(site.dest)
    assert dirty.added and site.read("latest/synthetic/badge.svg") == site.read(f"runs/{second.run.name}/badge.svg")
    assert 'src="latest/synthetic/badge.svg"' in site.text("index.html") and site.broken_links() == []


# --- interrupted publishing: the index never links a missing file ------------------------------------


@pytest.mark.parametrize(("kind", "survive"), [("s3", 2), ("folder", 7), ("s3", 10), ("folder", 11)])
def test_a_publish_stopped_midway_leaves_no_broken_link_and_a_rerun_completes_it(
        repo: Repo, cards: dict[str, dict[str, Any]], request: pytest.FixtureRequest, kind: str,
        survive: int) -> None:
    """The second run has 8 files, then 2 trend pages, history.json and index.html (its badges are the first
    run's: the latest badges do not change): the failure comes after 2 (mid-run), 7 (one file of the run left),
    10 (trends written) or 11 (history written) writes."""
    site = _site(kind, request)
    [first] = repo.publish(site.dest)
    old_index = site.read("index.html")
    _second_run(repo, cards)
    with pytest.MonkeyPatch.context() as patch:
        _fail_after(patch, survive, [])
        with pytest.raises(FairvisionError, match="S3 request failed"):
            repo.publish(site.dest)
    assert site.broken_links() == []
    assert site.read("index.html") == old_index  # index.html is always written last
    history = [run["name"] for run in site.json("history.json")["runs"]]
    assert history == [first.run.name] if survive < 11 else len(history) == 2
    [second] = repo.publish(site.dest)
    assert second.added == (survive < 11)
    assert re.findall(r'<tr data-run="([^"]+)"', site.text("index.html")) == [second.run.name, first.run.name]
    assert site.broken_links() == []


def test_a_killed_publish_leaves_no_broken_link(repo: Repo, tmp_path: Path, cards: dict[str, dict[str, Any]]) -> None:
    """A real process, killed (SIGKILL) in the middle of writing the second run's folder."""
    dest = tmp_path / "site"
    repo.publish(str(dest))
    _second_run(repo, cards)
    script = (
        "import os, signal, sys\n"
        "from fairvision.publish import target\n"
        "from fairvision.publish.build import publish\n"
        "from fairvision.publish.identity import git_state, params_sha256\n"
        "original, count = target.FolderTarget.write, [0]\n"
        "def write(self, key, data):\n"
        "    count[0] += 1\n"
        "    if count[0] == 4: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    original(self, key, data)\n"
        "target.FolderTarget.write = write\n"
        f"publish({str(dest)!r}, {{'synthetic': {str(repo.reports)!r}}}, git_state({str(repo.path)!r}), "
        f"params_sha256({str(repo.path / 'params.yaml')!r}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    site = _folder_site(dest)
    runs = sorted(key.split("/")[1] for key in site.keys() if key.startswith("runs/"))
    assert len(set(runs)) == 2  # the second run's folder was started...
    assert len(site.json("history.json")["runs"]) == 1 and site.broken_links() == []  # ...and is linked from nowhere


# --- errors ---------------------------------------------------------------------------------------------


def test_no_reports_yet_says_to_run_dvc_repro(repo: Repo, tmp_path: Path) -> None:
    shutil.rmtree(repo.reports)
    with pytest.raises(FairvisionError, match=re.escape(f"{repo.reports}: no reports yet; run `dvc repro` first")):
        repo.publish(str(tmp_path / "site"))
    repo.reports.mkdir()
    (repo.reports / "index.html").write_text("old")
    with pytest.raises(FairvisionError, match=r"no report card \(<B>.card.json\) in it; run `dvc repro` first"):
        repo.publish(str(tmp_path / "site"))
    assert not (tmp_path / "site").exists()  # checked before the site is touched


def test_a_card_from_before_this_version_names_the_file_and_key(repo: Repo, tmp_path: Path) -> None:
    path = repo.reports / "small_cnn.card.json"
    card = json.loads(path.read_text())
    del card["verdict"]["comparisons"]
    path.write_text(json.dumps(card))
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: missing `verdict.comparisons`")):
        repo.publish(str(tmp_path / "site"))
    card = json.loads((repo.reports / "mobilenet_v2.card.json").read_text())
    del card["quantitative_analyses"]["partitions"]["race"]["outcomes"]
    path.write_text(json.dumps(card))
    with pytest.raises(FairvisionError, match=re.escape(f"{path}: not a card this fairvision reads (KeyError: "
                                                        "'outcomes'); run `dvc repro`")):
        repo.publish(str(tmp_path / "site"))
    assert not (tmp_path / "site").exists()  # every card is read before the site is touched


def test_a_damaged_history_is_refused_naming_it(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "history.json").write_text('{"schema_version": 1, "runs": [{"name": "x"}]}')
    missing = f"{tmp_path / 'site'}/history.json: missing `runs[0].dataset`"
    with pytest.raises(FairvisionError, match=re.escape(missing)):
        repo.publish(str(tmp_path / "site"))
    (tmp_path / "site" / "history.json").write_text("{not json")
    with pytest.raises(FairvisionError, match="history.json: not valid JSON"):
        repo.publish(str(tmp_path / "site"))


def test_outside_a_git_work_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FairvisionError, match="publish from a git work tree with at least one commit"):
        git_state(tmp_path)


def test_s3_missing_bucket_and_unreachable_endpoint(
        repo: Repo, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FairvisionError, match=r"s3://no-such-bucket/site: bucket 'no-such-bucket' does not exist"):
        repo.publish("s3://no-such-bucket/site")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(FairvisionError, match=r"s3://some-bucket/site: cannot reach the S3 endpoint") as caught:
        repo.publish("s3://some-bucket/site")
    assert str(port) not in str(caught.value)  # the request's URL is not echoed
    with pytest.raises(FairvisionError, match="must not carry credentials") as caught:
        repo.publish("s3://AKIAKEY:secret@bucket/site")
    assert "secret" not in str(caught.value)


def test_s3_objects_carry_the_content_type_a_browser_needs(repo: Repo, s3_server: Any) -> None:
    site = _s3_site(s3_server)
    [result] = repo.publish(site.dest)
    bucket = site.dest.split("/")[2]
    client = s3_server.client()
    types = {key: client.head_object(Bucket=bucket, Key=f"site/{key}")["ContentType"]
             for key in ("index.html", "history.json", f"runs/{result.run.name}/badge.svg")}
    assert types == {"index.html": "text/html; charset=utf-8", "history.json": "application/json",
                     f"runs/{result.run.name}/badge.svg": "image/svg+xml"}


# --- what the site shows ------------------------------------------------------------------------------


def test_the_worst_gap_is_the_audits_own(tmp_path: Path, cards: dict[str, dict[str, Any]]) -> None:
    """The trend's worst gap per partition is the number headline.json gives (`dvc exp show`), with its interval."""
    from fairvision.audit.headline import headline
    from fairvision.audit.record import read_fairness

    inputs = write_inputs(tmp_path)
    for backbone in BACKBONES:
        numbers = headline(read_fairness(inputs["audits_dir"] / backbone / "fairness.json"))
        summary = summarize(cards[backbone], f"{backbone}.card.json")
        assert {name: gap.estimate.value for name, gap in summary.gaps.items()} == numbers["worst_accuracy_gap"]
        assert summary.comparisons == numbers["comparisons"] and summary.accuracy.value == numbers["accuracy"]
        race = summary.gaps["race"]
        assert race.estimate.low < race.estimate.value < race.estimate.high and race.tolerance == (-0.1, 0.1)


def test_names_are_escaped_and_links_encoded(repo: Repo, tmp_path: Path, cards: dict[str, dict[str, Any]]) -> None:
    """A backbone like small_cnn+reweighing: S3's web endpoints read a bare '+' as a space."""
    renamed = {"small_cnn+reweighing": cards["small_cnn"], "mobilenet_v2": cards["mobilenet_v2"]}
    write_reports(repo.reports, renamed)
    [result] = repo.publish(str(tmp_path / "site"))
    site = _folder_site(tmp_path / "site")
    index = site.text("index.html")
    assert f'href="runs/{result.run.name}/small_cnn%2Breweighing.html"' in index
    assert 'href="trends/synthetic/small_cnn%2Breweighing.html"' in index
    trend = site.text("trends/synthetic/small_cnn+reweighing.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" not in trend  # insufficient groups are never the worst
    assert "<script" not in index + trend and "http://" not in index.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and site.broken_links() == []


def test_params_hash_ignores_comments_and_key_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("train:\n  epochs: 2  # two\n  seeds: [0]\n")
    (tmp_path / "b.yaml").write_text("# params\ntrain: {seeds: [0], epochs: 2}\n")
    (tmp_path / "c.yaml").write_text("train: {seeds: [0], epochs: 3}\n")
    hashes = [params_sha256(tmp_path / name) for name in ("a.yaml", "b.yaml", "c.yaml")]
    assert hashes[0] == hashes[1] != hashes[2]


# --- the command --------------------------------------------------------------------------------------


def test_the_command_publishes_and_reports_progress(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fairvision")
    monkeypatch.chdir(repo.path)
    dest = str(tmp_path / "site")
    assert main(["publish", dest]) == 0
    assert re.search(rf"publish: \[1/8\] {re.escape(dest)}/runs/\S+/badge.svg \(\d+\.\d kB\)", caplog.text)
    assert f"publish: wrote {dest}/index.html" in caplog.text and "publish: synthetic: added run" in caplog.text
    caplog.clear()
    assert main(["publish", dest]) == 0
    assert "synthetic: already had run" in caplog.text and "wrote" not in caplog.text
    assert main(["publish", dest, "--dataset", "nope"]) == 1
    assert "dataset 'nope' is not in params.yaml `datasets`" in capsys.readouterr().err
    shutil.rmtree(repo.reports)
    assert main(["publish", dest]) == 1
    assert "no reports yet; run `dvc repro` first" in capsys.readouterr().err
