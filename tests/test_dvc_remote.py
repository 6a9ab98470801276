"""A DVC remote for the pipeline's cached outputs, and raw data imported from S3 (docs/remote.md).

One tiny project (tests/dvc_project.py) is reproduced once for the module; each test then adds
a remote to it, pushes, and checks a fresh `git clone` gets everything back with `dvc pull` and
reruns nothing. The S3 remote is a real moto server on 127.0.0.1 (the `s3_server` fixture), reached
through AWS_ENDPOINT_URL and dummy credentials in the environment, never through .dvc/config.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from dvc_project import Project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, reproduced_project: Project) -> Project:
    """A copy of the tiny project, reproduced and committed (dvc.lock, the uncached outputs, .gitignore files)."""
    from dvc_project import copy_project

    project = copy_project(reproduced_project, tmp_path_factory.mktemp("remote") / "project")
    return project


def cached_outputs(project: Project) -> dict[str, str]:
    """Every cached output in dvc.lock: path -> md5 (directories end in .dir)."""
    lock = yaml.safe_load((project.path / "dvc.lock").read_text(encoding="utf-8"))
    outs = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            outs[out["path"]] = out["md5"]
    # cache: false outputs are in dvc.lock too; keep those DVC actually caches (git-ignored by DVC)
    return {path: md5 for path, md5 in outs.items()
            if project.run("git", "check-ignore", "-q", path, check=False).returncode == 0}


def clone(project: Project, where: Path) -> Project:
    """A fresh `git clone` of the project: no DVC cache, no git-ignored outputs."""
    project.run("git", "clone", "-q", str(project.path), str(where))
    return Project(where)


def assert_up_to_date(clone: Project) -> None:
    status = clone.dvc("status")
    assert "Data and pipelines are up to date." in status.stdout, status.stdout
    assert clone.changed_stages() == set()
    repro = clone.dvc("repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert "didn't change, skipping" in repro.stdout, repro.stdout


def push_clone_pull(project: Project, name: str, url: str, where: Path) -> Project:
    """Add ``url`` as the default remote ``name``, push, commit; then clone into ``where`` and pull."""
    project.dvc("remote", "add", "-d", name, url)
    pushed = project.dvc("push")
    assert "pushed" in pushed.stdout, pushed.stdout
    cloud = project.dvc("status", "-c", "--json")
    assert json.loads(cloud.stdout or "{}") == {}, cloud.stdout  # cache and remote in sync
    project.commit(f"remote {name}")
    copy = clone(project, where)
    outs = cached_outputs(project)
    assert not any((copy.path / path).exists() for path in outs)  # nothing but git in the clone
    copy.dvc("pull")
    assert all((copy.path / path).exists() for path in outs)
    return copy


def test_cached_outputs_include_data_models_and_predictions(project: Project) -> None:
    outs = cached_outputs(project)
    assert {"data/raw/synthetic", "models/synthetic/small_cnn/seed-0",
            "audits/synthetic/small_cnn/predictions/seed-0.parquet"} <= set(outs)
    assert any(path.startswith("data/prepared/") for path in outs)
    assert not any(path.startswith(("training/", "timings/")) for path in outs)  # cache: false, in git


def test_s3_remote_push_then_a_fresh_clone_pulls_and_reruns_nothing(project: Project, s3_server,
                                                                    tmp_path: Path) -> None:
    bucket = s3_server.bucket()
    copy = push_clone_pull(project, "storage", f"s3://{bucket}/dvc", tmp_path / "clone")

    # the endpoint and the credentials come from the environment: .dvc/config holds neither
    config = (project.path / ".dvc" / "config").read_text(encoding="utf-8")
    assert f"url = s3://{bucket}/dvc" in config and "remote = storage" in config
    assert s3_server.endpoint not in config and "testing" not in config

    # every cached output is in the bucket, at DVC 3's content address files/md5/<2>/<rest>
    keys = {obj["Key"] for page in s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])}
    for path, md5 in cached_outputs(project).items():
        assert f"dvc/files/md5/{md5[:2]}/{md5[2:]}" in keys, path
    assert len(keys) > len(cached_outputs(project))  # directories: a .dir listing plus their files

    assert_up_to_date(copy)


def test_s3_remote_endpoint_in_the_local_config_instead_of_the_environment(project: Project, s3_server,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """MinIO and the like without AWS_ENDPOINT_URL: `dvc remote modify --local` keeps it out of git."""
    bucket = s3_server.bucket()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    project.dvc("remote", "add", "minio", f"s3://{bucket}/dvc")
    project.dvc("remote", "modify", "--local", "minio", "endpointurl", s3_server.endpoint)
    project.dvc("push", "-r", "minio")
    assert json.loads(project.dvc("status", "-c", "-r", "minio", "--json").stdout or "{}") == {}
    assert s3_server.endpoint not in (project.path / ".dvc" / "config").read_text(encoding="utf-8")
    assert s3_server.endpoint in (project.path / ".dvc" / "config.local").read_text(encoding="utf-8")
    assert project.run("git", "check-ignore", "-q", ".dvc/config.local", check=False).returncode == 0
    # the .local part first: `dvc remote remove minio` alone errors on the endpoint left without a url
    project.dvc("remote", "remove", "--local", "minio")
    project.dvc("remote", "remove", "minio")
    assert "minio" not in project.dvc("remote", "list").stdout
    assert project.run("git", "status", "--porcelain").stdout == ""  # back as it was


def test_local_folder_remote_works_the_same(project: Project, tmp_path: Path) -> None:
    copy = push_clone_pull(project, "local", str(tmp_path / "remote"), tmp_path / "clone")
    assert (tmp_path / "remote" / "files" / "md5").is_dir()
    assert_up_to_date(copy)

    # what CI does on a pull request: pull, then `dvc repro` reruns only what the change touches
    params = copy.params()
    params["audit"]["bootstrap"]["resamples"] += 10
    copy.write_params(params)
    # the report too: it compares a mitigated backbone with its plain one with the audit's bootstrap
    assert copy.changed_stages() == {"audit@synthetic-small_cnn", "report@synthetic"}
    ran = set(re.findall(r"Running stage '([^']+)'", copy.dvc("repro").stdout))
    assert "audit@synthetic-small_cnn" in ran
    # explain reads only the reference groups (references.json), which the resamples do not move
    assert not ran & {"synth", "prepare@synthetic", "train@synthetic-small_cnn-0", "evaluate@synthetic-small_cnn-0",
                      "explain@synthetic-small_cnn"}


def test_import_url_from_s3_then_update_after_the_bucket_changes(project: Project, s3_server,
                                                                tmp_path: Path) -> None:
    bucket = s3_server.bucket({"a.csv": b"a,1\n", "b.csv": b"b,2\n", "sub/c.csv": b"c,3\n"},
                              prefix="raw/faces-2024")
    copy = clone(project, tmp_path / "clone")  # its own checkout: the shared project stays as it is
    copy.dvc("import-url", f"s3://{bucket}/raw/faces-2024", "data/raw/imported")
    imported = copy.path / "data" / "raw" / "imported"
    assert (imported / "sub" / "c.csv").read_bytes() == b"c,3\n"
    dvc_file = copy.path / "data" / "raw" / "imported.dvc"

    def out_md5() -> str:
        return yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["outs"][0]["md5"]

    before = out_md5()
    assert yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["frozen"] is True
    copy.commit("import raw data")

    s3_server.client().put_object(Bucket=bucket, Key="raw/faces-2024/a.csv", Body=b"a,100\n")

    # import-url stages are frozen: `dvc status` does NOT look at the source, so it says nothing
    # about the changed bucket (only imports from DVC repos / version-aware remotes are checked)
    # (targeted: this clone has not pulled the pipeline's outputs, which `dvc status` would list)
    assert json.loads(copy.dvc("status", "--json", "data/raw/imported.dvc").stdout or "{}") == {}
    assert "Data and pipelines are up to date." in copy.dvc("status", "data/raw/imported.dvc").stdout

    updated = copy.dvc("update", "data/raw/imported.dvc")
    assert (imported / "a.csv").read_bytes() == b"a,100\n"
    assert (imported / "b.csv").read_bytes() == b"b,2\n"
    assert out_md5() != before, updated.stdout
    assert copy.run("git", "status", "--porcelain").stdout == " M data/raw/imported.dvc\n"  # changed, not staged

    # nothing more to fetch: a second update leaves the .dvc file alone
    after = out_md5()
    copy.dvc("update", "data/raw/imported.dvc")
    assert out_md5() == after
