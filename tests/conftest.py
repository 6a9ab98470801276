"""Shared fixtures: tiny FairFace-format datasets written by hand, so each test controls every row."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fairvision.data.fairface import CSV_HEADER, LABEL_CSVS, zip_name  # noqa: E402


def encode_image(colour: tuple[int, int, int], image_format: str = "JPEG", size: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format=image_format)
    return buffer.getvalue()


def write_fairface(
    root: Path,
    rows: dict[str, list[list[str]]],
    images: dict[str, bytes],
    *,
    as_zip: bool = True,
    header: tuple[str, ...] = CSV_HEADER,
) -> Path:
    """Write label CSVs (``rows['train']``, ``rows['val']``) and images, zipped or extracted."""
    root.mkdir(parents=True, exist_ok=True)
    for split, name in LABEL_CSVS.items():
        with (root / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows.get(split, []))
    if as_zip:
        with zipfile.ZipFile(root / zip_name(0.25), "w") as archive:
            for key, data in images.items():
                archive.writestr(key, data)
    else:
        for key, data in images.items():
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)
    return root


def valid_rows(split: str, count: int) -> tuple[list[list[str]], dict[str, bytes]]:
    """``count`` valid rows cycling through genders and a few races, with their images.

    Every image differs (red by row, green by split), as prepare rejects byte-identical copies.
    """
    races = ("White", "Black", "East Asian")
    rows, images = [], {}
    for n in range(1, count + 1):
        key = f"{split}/{n}.jpg"
        gender = ("Male", "Female")[n % 2]
        rows.append([key, "20-29", gender, races[n % 3], "True"])
        images[key] = encode_image((n * 5 % 256, 80 if split == "train" else 160, 200 if gender == "Female" else 40))
    return rows, images


@pytest.fixture
def small_fairface(tmp_path: Path) -> Path:
    train_rows, train_images = valid_rows("train", 40)
    val_rows, val_images = valid_rows("val", 12)
    return write_fairface(tmp_path / "fairface", {"train": train_rows, "val": val_rows}, train_images | val_images)


# --- A real S3 server (moto) on 127.0.0.1, for the storage layer -------------------------------


class S3Server:
    """A running moto S3 server plus helpers to fill it; ``endpoint`` is its http:// URL."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._buckets = 0

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def bucket(self, files: dict[str, bytes] | None = None, *, prefix: str = "", name: str | None = None) -> str:
        """Create a fresh bucket (unique name unless given) holding ``files`` under ``prefix``; return its name."""
        self._buckets += 1
        name = name or f"fv-test-{self._buckets:04d}"
        client = self.client()
        client.create_bucket(Bucket=name)
        for key, data in (files or {}).items():
            client.put_object(Bucket=name, Key=f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key, Body=data)
        return name


@pytest.fixture(scope="session")
def _moto_server():
    """One moto S3 server for the whole session, on a random free port of 127.0.0.1."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def s3_server(_moto_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """The moto server, with the AWS environment pointing at it for this test only.

    Dummy credentials, a region and the endpoint are set the usual AWS way (environment
    variables); the user's own profile files are hidden so a test never reaches real AWS.
    """
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server.endpoint)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return _moto_server


def encode_array(pixels, image_format: str = "PNG", **options) -> bytes:
    """Encode a numpy array (any Pillow-supported dtype/shape) or a PIL image as ``image_format``."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width`` x ``height`` with no pixel data: a decompression-bomb stand-in."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    iend = b"IEND"
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0) + iend + struct.pack(">I", zlib.crc32(iend))
    )


# --- Order for parallel runs (`make test`: pytest-xdist, --dist loadfile --no-loadscope-reorder) ----------

# Modules that took 30 s or more of a `make test` run (`pytest --durations=0`, summed per module), longest first.
# Started first, they leave the short modules to fill in at the end, so both workers finish together. A stale
# entry costs only balance, never a result.
SLOW_MODULES = ("test_library_backbones", "test_resume", "test_faults", "test_end_to_end", "test_dvc_exactness",
                "test_dvc_experiments", "test_dvc_remote", "test_reproducibility", "test_distributed",
                "test_validation", "test_reweighing", "test_pipeline", "test_elyra")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order modules for the workers: first the module that makes the reproduced DVC project (a minute), then
    the slow modules longest first, those that copy the project after the ones that do not (so no worker waits
    for it while it is being made), then the rest in their usual order."""
    needing = [item for item in items if "reproduced_project" in getattr(item, "fixturenames", ())]
    maker = needing[0].module if needing else None
    waits = {item.module for item in needing}

    def rank(item: pytest.Item) -> tuple[int, int]:
        module = getattr(item, "module", None)
        if module is maker:
            return 0, 0
        name = module.__name__ if module else ""
        if name in SLOW_MODULES:
            return 1 if module not in waits else 2, SLOW_MODULES.index(name)
        return 3, 0

    items.sort(key=rank)  # stable: each module's tests keep their order


# --- A tiny copy of the pipeline, reproduced once per session (tests/dvc_project.py) ---------------


@pytest.fixture(scope="session")
def reproduced_project(tmp_path_factory: pytest.TempPathFactory):
    """The tiny project after one `dvc repro`, committed; tests take a copy (`dvc_project.copy_project`).

    Made once per test run: under pytest-xdist (`make test`) the first worker that asks makes it in the
    run's shared temporary folder and the others wait for it (it takes about a minute), then copy it.
    """
    import shutil

    from filelock import FileLock

    from dvc_project import Project, make_project

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "tiny-reproduced"
    with FileLock(str(shared / "tiny-reproduced.lock")):
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed midway
            project = make_project(folder / "project")
            project.dvc("repro")
            project.commit("reproduced")
            (folder / "done").touch()
    return Project(folder / "project")


# --- A tiny prepared dataset (synth + prepare at 16 px), once per session, for training tests -----------

TINY_EPOCHS = 5


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with params.yaml (small_cnn width 4, 16 px, TINY_EPOCHS epochs) and data/prepared/synthetic/.
    Tests copy it before writing into it."""
    import yaml

    from fairvision.cli import main

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path_factory.mktemp("tiny-prepared")
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["synth"].update(n_train=1200, n_val=100, image_size=16)
    params["train"].update(image_size=16, batch_size=32, epochs=TINY_EPOCHS)
    params["backbones"] = {"small_cnn": {"width": 4}, "small_cnn+reweighing": {"width": 4, "reweighing": ["race"]}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(["synth"]) == 0 and main(["prepare"]) == 0
    return folder


def trained_tiny_project(tiny_prepared: Path, folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of ``tiny_prepared`` at ``folder`` with small_cnn (width 4) alone, params changed by ``edit``, trained
    (no checkpoint) and evaluated: the state the explain and discover stages start from."""
    import shutil

    import yaml

    from fairvision.cli import main

    shutil.copytree(tiny_prepared, folder)
    params = yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8"))
    params["backbones"] = {"small_cnn": {"width": 4}}
    edit(params)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("TQDM_DISABLE", "1")
        for command in (["train", "small_cnn", "--no-checkpoint"], ["evaluate", "small_cnn"]):
            assert main(command) == 0
    return folder


# --- `fairvision serve` on a tiny exported model, once per session (tests/serving.py) ----------------------

SERVE_LABELS = ["East Asian", "White"]  # a label with a space: class names must travel intact
SERVE_IMAGE_SIZE = 16
SERVE_FLAGS = ("--max-batch-size", "16", "--batch-timeout-ms", "25", "--max-body-bytes", str(2**20))


@pytest.fixture(scope="session")
def serve_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small_cnn (width 4, 16 px) exported as `fairvision train` exports it, in a folder named
    small_cnn."""
    import keras

    from fairvision.models.backbones import build_backbone
    from fairvision.models.export import export_classifier, write_labels

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("serve-model") / "small_cnn"
    model = build_backbone("small_cnn", SERVE_IMAGE_SIZE, len(SERVE_LABELS), {"width": 4})
    export_classifier(model, SERVE_LABELS, SERVE_IMAGE_SIZE, folder)
    write_labels(folder, SERVE_LABELS)
    return folder


@pytest.fixture(scope="session")
def served(serve_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """`fairvision serve` on the tiny model, started in a folder without params.yaml (serving needs none)."""
    from serving import running_server

    with running_server(serve_model_dir, *SERVE_FLAGS, cwd=tmp_path_factory.mktemp("serve-cwd")) as server:
        yield server
