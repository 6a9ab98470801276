"""The storage layer: a local folder and an S3 prefix (a real moto server) read the same way."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path

import pytest

from fairvision.data.storage import Root, UnreadableFile, open_root
from fairvision.errors import FairvisionError

FILES = {
    "_annotations.json": b'{"version": "1.0"}',
    "fairface_label_train.csv": b"file,age,gender,race,service_test\n",
    "train/1.jpg": b"\xff\xd8one",
    "train/2.jpg": b"\xff\xd8two",
    "val/deep/er/3.jpg": b"\xff\xd8three",
    "with space/ü.txt": "unicode".encode(),
}
BAD_KEYS = ["/etc/passwd", "../outside.txt", "train/../../outside.txt", "train/./1.jpg", "train//1.jpg",
            "train\\1.jpg", ""]
FAKE_KEY_ID = "AKIAFAKEKEYID0123456"
FAKE_SECRET = "fake-secret-DO-NOT-PRINT-7f3a9c"


def _local(tmp_path: Path, files: dict[str, bytes]) -> str:
    root = tmp_path / "source"
    root.mkdir()
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return str(root)


@pytest.fixture(params=["local", "s3"])
def make_location(request: pytest.FixtureRequest, tmp_path: Path):
    """A function writing files to a fresh local folder or S3 prefix and returning its location."""
    if request.param == "local":
        return lambda files: _local(tmp_path, files)
    server = request.getfixturevalue("s3_server")
    return lambda files: f"s3://{server.bucket(files, prefix='datasets/fairface')}/datasets/fairface"


def _full_error(error: BaseException) -> str:
    """Everything a traceback printer would show for ``error``."""
    return "".join(traceback.format_exception(error))


# --- same behaviour, local and S3 ------------------------------------------------------------


def test_list_read_exists_agree(make_location) -> None:
    location = make_location(FILES)
    root = open_root(location)
    assert isinstance(root, Root)
    assert root.location == location
    assert root.is_remote == location.startswith("s3://")
    assert root.list_files() == sorted(FILES)
    for key, data in FILES.items():
        assert root.exists(key)
        assert root.read(key) == data
    assert not root.exists("missing.jpg")
    assert not root.exists("train")  # a folder / prefix is not a file
    assert not root.exists("val/deep")


def test_open_gives_a_seekable_file_for_zips(make_location) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/1.jpg", b"one")
        archive.writestr("val/1.jpg", b"uno")
    root = open_root(make_location({"fairface-img-margin025-trainval.zip": buffer.getvalue()}))
    with root.open("fairface-img-margin025-trainval.zip") as handle, zipfile.ZipFile(handle) as archive:
        assert archive.namelist() == ["train/1.jpg", "val/1.jpg"]
        assert archive.read("val/1.jpg") == b"uno"


def test_a_limited_read_refuses_a_larger_file_by_its_size(make_location) -> None:
    root = open_root(make_location(FILES))
    assert root.read("val/deep/er/3.jpg", max_bytes=7) == FILES["val/deep/er/3.jpg"]
    with pytest.raises(UnreadableFile) as caught:
        root.read("val/deep/er/3.jpg", max_bytes=6)
    assert caught.value.reason == "image file is 7 bytes, above prepare.max_image_bytes (6)"


def test_a_limited_read_stops_after_the_limit_when_the_size_lies() -> None:
    """A file that grew after its size was read (or an archive entry that under-declares) is cut off, not read."""
    from fairvision.data.storage import read_capped

    handle = io.BytesIO(b"x" * 100)
    with pytest.raises(UnreadableFile) as caught:
        read_capped(handle, size=3, max_bytes=5, location="here", key="a.jpg", what="image file")
    assert handle.tell() == 6  # the limit plus the one byte that shows it is passed
    assert str(caught.value) == ("here: file 'a.jpg': image file holds more than its declared 3 bytes (stopped "
                                 "reading past prepare.max_image_bytes, 5)")


def test_missing_key_names_location_and_key(make_location) -> None:
    location = make_location(FILES)
    root = open_root(location)
    with pytest.raises(FairvisionError, match="does not exist") as caught:
        root.read("train/404.jpg")
    assert location in str(caught.value) and "train/404.jpg" in str(caught.value)


def test_empty_root_lists_nothing(tmp_path: Path, s3_server) -> None:
    assert open_root(_local(tmp_path, {})).list_files() == []
    assert open_root(f"s3://{s3_server.bucket()}").list_files() == []  # an empty bucket exists


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_escaping_the_root_are_refused(make_location, key: str) -> None:
    root = open_root(make_location(FILES))
    for call in (root.read, root.exists):
        with pytest.raises(FairvisionError) as caught:
            call(key)
        assert repr(key) in str(caught.value)
    with pytest.raises(FairvisionError):
        with root.open(key):
            pass


# --- S3 specifics ------------------------------------------------------------------------------


def test_s3_bucket_root_and_prefix_boundary(s3_server) -> None:
    bucket = s3_server.bucket({"data/a.txt": b"a", "data/sub/b.txt": b"b", "data2/c.txt": b"c", "top.txt": b"t"})
    assert open_root(f"s3://{bucket}").list_files() == ["data/a.txt", "data/sub/b.txt", "data2/c.txt", "top.txt"]
    root = open_root(f"s3://{bucket}/data/")  # a trailing slash is the same prefix
    assert root.location == f"s3://{bucket}/data"
    assert root.list_files() == ["a.txt", "sub/b.txt"]  # data2/ is a different prefix
    with pytest.raises(FairvisionError):
        root.read("../data2/c.txt")


def test_s3_missing_bucket(s3_server) -> None:
    with pytest.raises(FairvisionError, match="bucket 'no-such-bucket' does not exist") as caught:
        open_root("s3://no-such-bucket/prefix")
    assert "s3://no-such-bucket/prefix" in str(caught.value)


def test_s3_missing_prefix(s3_server) -> None:
    bucket = s3_server.bucket({"data/a.txt": b"a"})
    with pytest.raises(FairvisionError, match="no objects under this prefix") as caught:
        open_root(f"s3://{bucket}/dta")
    assert f"s3://{bucket}/dta" in str(caught.value)


def test_s3_unreachable_endpoint(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(FairvisionError, match="cannot reach the S3 endpoint") as caught:
        open_root("s3://some-bucket/data")
    assert "s3://some-bucket/data" in str(caught.value) and f"127.0.0.1:{port}" in str(caught.value)
    assert "botocore" not in _full_error(caught.value)


def test_s3_access_denied_is_a_clean_error(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto does not check credentials, so simulate the PermissionError s3fs raises for AccessDenied.
    root = open_root(f"s3://{s3_server.bucket({'a.txt': b'a'})}")

    def denied(*_args, **_kwargs):
        raise PermissionError("Access Denied")

    monkeypatch.setattr(root._fs, "find", denied)
    monkeypatch.setattr(root._fs, "open", denied)
    with pytest.raises(FairvisionError, match="access denied"):
        root.list_files()
    with pytest.raises(FairvisionError, match=r"file 'a.txt': access denied"):
        root.read("a.txt")


def test_s3_missing_credentials(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(FairvisionError, match="no AWS credentials found"):
        open_root("s3://some-bucket")


def test_credentials_never_appear_in_errors(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    bucket = s3_server.bucket({"data/a.txt": b"a"})
    root = open_root(f"s3://{bucket}/data")
    assert root.read("a.txt") == b"a"
    failures = [
        lambda: open_root("s3://no-such-bucket"),
        lambda: open_root(f"s3://{bucket}/nothing-here"),
        lambda: root.read("missing.txt"),
        lambda: root.read("../escape"),
        lambda: open_root(f"s3://{FAKE_KEY_ID}:{FAKE_SECRET}@{bucket}/data"),
    ]
    messages = []
    for failure in failures:
        with pytest.raises(FairvisionError) as caught:
            failure()
        messages.append(_full_error(caught.value))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # unreachable
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(FairvisionError) as caught:
        open_root(f"s3://{bucket}/data")
    messages.append(_full_error(caught.value))
    for message in messages:
        assert FAKE_SECRET not in message and FAKE_KEY_ID not in message, message
        assert "botocore" not in message, message  # no raw botocore traceback chained on


# --- local specifics ---------------------------------------------------------------------------


def test_local_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root_dir = Path(_local(tmp_path, {"a/inside.txt": b"in"}))
    (root_dir / "escape.txt").symlink_to(outside / "secret.txt")
    (root_dir / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root_dir / "alias.txt").symlink_to(root_dir / "a" / "inside.txt")  # stays inside: fine
    (root_dir / "a" / "loop").symlink_to(root_dir, target_is_directory=True)  # a cycle: not descended
    root = open_root(root_dir)
    assert root.read("alias.txt") == b"in"
    assert root.read("a/loop/a/inside.txt") == b"in"
    for key in ("escape.txt", "escape_dir/secret.txt"):
        with pytest.raises(FairvisionError, match="outside the dataset root") as caught:
            root.read(key)
        assert repr(key) in str(caught.value)
        with pytest.raises(FairvisionError, match="outside the dataset root"):
            root.exists(key)
    assert root.list_files() == ["a/inside.txt", "alias.txt", "escape.txt"]


def test_local_root_through_a_symlink(tmp_path: Path) -> None:
    real = Path(_local(tmp_path, {"x/y.txt": b"y"}))
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    root = open_root(link)
    assert root.location == str(link)
    assert root.list_files() == ["x/y.txt"] and root.read("x/y.txt") == b"y"


def test_local_missing_folder_and_file_location(tmp_path: Path) -> None:
    with pytest.raises(FairvisionError, match="does not exist") as caught:
        open_root(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FairvisionError, match="is not a folder"):
        open_root(tmp_path / "file.txt")


def test_local_read_of_a_folder(tmp_path: Path) -> None:
    root = open_root(_local(tmp_path, {"train/1.jpg": b"1"}))
    with pytest.raises(FairvisionError, match="is a folder"):
        root.read("train")


def test_unsupported_scheme_and_short_bucket() -> None:
    with pytest.raises(FairvisionError, match="only local folders and s3://"):
        open_root("gs://bucket/prefix")
    with pytest.raises(FairvisionError, match="at least 3 characters"):
        open_root("s3://ab/prefix")


def test_local_use_does_not_import_s3fs(tmp_path: Path) -> None:
    root = _local(tmp_path, {"a.txt": b"a"})
    code = (
        "import sys\n"
        "from fairvision.data.storage import open_root\n"
        f"r = open_root({root!r}); assert r.read('a.txt') == b'a' and r.list_files() == ['a.txt']\n"
        "loaded = [m for m in ('s3fs', 'botocore', 'fsspec') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
