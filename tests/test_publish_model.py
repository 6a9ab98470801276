"""Publishing a model as TF Serving's numbered versions, to a folder and to a real S3 server (moto), and serving
the newest version of such a base with `fairvision serve`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fairvision.errors import FairvisionError
from fairvision.serve.options import default_name, newest_version
from fairvision.serve.versions import publish, servable_versions


def test_tf_serving_sees_only_whole_numbers(tmp_path: Path) -> None:
    assert servable_versions(["2", "10", "1", "latest", ".tmp", "3a", "٣"]) == [1, 2, 10]


def test_a_model_becomes_version_1_then_republishing_it_writes_nothing(serve_model_dir: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    base = tmp_path / "models" / "synthetic" / "small_cnn"
    first = publish(serve_model_dir, str(base))
    assert (first.version, first.written) == (1, True)
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    expected = sorted(p.relative_to(serve_model_dir) for p in serve_model_dir.rglob("*") if p.is_file())
    assert sorted(p.relative_to(base / "1") for p in (base / "1").rglob("*") if p.is_file()) == expected
    assert "serving_default" in tf.saved_model.load(str(base / "1")).signatures  # what TF Serving loads
    again = publish(serve_model_dir, str(base))
    assert (again.version, again.written) == (1, False)
    assert sorted(p.name for p in base.iterdir()) == ["1"]


def test_another_model_becomes_the_next_version_and_serve_picks_the_newest(serve_model_dir: Path,
                                                                           tmp_path: Path) -> None:
    base = tmp_path / "small_cnn"
    publish(serve_model_dir, str(base))
    other = _another_model(serve_model_dir, tmp_path)
    (base / "notes").mkdir()  # TF Serving ignores what is not a number; so does publishing
    assert publish(other, str(base)).version == 2
    assert newest_version(base) == (base / "2", 2)
    assert default_name(base / "2") == "small_cnn"
    assert newest_version(serve_model_dir) is None  # a model folder is served as it is


def test_a_folder_without_a_saved_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(FairvisionError, match=r"model: no saved_model\.pb, so not an exported model"):
        publish(tmp_path / "model", str(tmp_path / "base"))
    assert not (tmp_path / "base").exists()


def test_publishing_to_s3_counts_only_numbered_versions(serve_model_dir: Path, s3_server) -> None:
    s3_server.bucket({"models/synthetic/small_cnn/notes.txt": b"not a version"}, name="published")
    base = "s3://published/models/synthetic/small_cnn"
    assert publish(serve_model_dir, base).version == 1
    assert publish(serve_model_dir, base).written is False
    keys = sorted(o["Key"] for o in s3_server.client().list_objects_v2(Bucket="published")["Contents"])
    assert "models/synthetic/small_cnn/1/saved_model.pb" in keys
    assert {k.split("/")[3] for k in keys if k.count("/") > 3} == {"1"}


def test_a_missing_bucket_or_credentials_in_the_location_are_refused(serve_model_dir: Path, s3_server) -> None:
    with pytest.raises(FairvisionError, match=r"s3://no-such-bucket/m: bucket .no-such-bucket. does not exist"):
        publish(serve_model_dir, "s3://no-such-bucket/m")
    with pytest.raises(FairvisionError, match="must not carry credentials"):
        publish(serve_model_dir, "s3://key:secret@bucket/m")


def test_serving_a_published_base_serves_its_newest_version_under_the_backbone_name(serve_model_dir: Path,
                                                                                      tmp_path: Path) -> None:
    import json
    import urllib.request

    from serving import running_server

    base = tmp_path / "small_cnn"
    publish(serve_model_dir, str(base))
    other = _another_model(serve_model_dir, tmp_path)
    publish(other, str(base))
    with running_server(base, cwd=tmp_path) as server:
        with urllib.request.urlopen(f"{server.url}/v1/models/small_cnn", timeout=30) as answer:
            status = json.load(answer)["model_version_status"]
    assert [entry["version"] for entry in status] == ["2"]


def _another_model(model: Path, tmp_path: Path) -> Path:
    """A copy of ``model`` that differs in one file, as another training run's would."""
    other = shutil.copytree(model, tmp_path / "other")
    (other / "train.json").write_text('{"seed": 1}\n', encoding="utf-8")
    return other
