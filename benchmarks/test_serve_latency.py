"""`fairvision serve` latency and throughput against the model's signature called directly, in the same run.

The goal: at batch 1, the median `:predict` over HTTP costs at most 1.3x (a direct call of the
signature + the HTTP round trip of an empty request, GET /v2/health/live on the same server),
i.e. the serving layer (JSON, base64, image checks, batching queue, worker thread) adds
little beyond what any HTTP server and the model must cost. Batch 32 is reported (p50, p99,
images/s) beside its direct call. The model is the demo's small_cnn (width 16, 64 px), untrained.

The server inherits this process's environment, so the direct call and the server always run
with the same TensorFlow threading. Run it as TensorFlow chooses the threads, and again in the
latency configuration (one thread per pool, which the README's Serving section describes):

    .venv/bin/pytest benchmarks/test_serve_latency.py --benchmark-group-by=group -s
    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 .venv/bin/pytest benchmarks/test_serve_latency.py ...
"""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' server fixture: one way to start it
from serving import running_server  # noqa: E402

IMAGE_SIZE, ROUNDS = 64, 300
GOAL = 1.3
RESULTS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    from fairvision.models.backbones import build_backbone
    from fairvision.models.export import export_classifier, write_labels

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("serve-bench") / "small_cnn"
    export_classifier(build_backbone("small_cnn", IMAGE_SIZE, 2, {"width": 16}), ["Female", "Male"], IMAGE_SIZE, folder)
    write_labels(folder, ["Female", "Male"])
    return folder


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    rng = np.random.default_rng(0)
    encoded = []
    for _ in range(32):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).save(buffer, "JPEG")
        encoded.append(buffer.getvalue())
    return encoded


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_server(model_dir, cwd=tmp_path_factory.mktemp("serve-bench-cwd")) as running:
        yield running


@pytest.fixture(scope="module")
def session() -> requests.Session:
    with requests.Session() as client:  # keep-alive, as a real client would
        yield client


@pytest.fixture(scope="module")
def direct(model_dir: Path):
    import tensorflow as tf

    from fairvision.models.export import load_classifier

    classify = load_classifier(model_dir)
    return lambda data: classify(image_bytes=tf.constant(data))


def record(benchmark, name: str, images_per_call: int) -> None:
    times = np.asarray(benchmark.stats.stats.data)
    RESULTS[name] = {"p50_ms": float(np.median(times) * 1e3), "p99_ms": float(np.percentile(times, 99) * 1e3),
                     "images_per_s": images_per_call / float(np.median(times))}
    benchmark.extra_info.update(RESULTS[name])


def predict_body(images: list[bytes]) -> dict:
    return {"instances": [{"b64": base64.b64encode(image).decode()} for image in images]}


@pytest.mark.benchmark(group="serve batch 1")
def test_baseline_direct_call_batch_1(benchmark, direct, images) -> None:
    benchmark.pedantic(direct, args=(images[:1],), rounds=ROUNDS, warmup_rounds=10)
    record(benchmark, "direct, batch 1", 1)


@pytest.mark.benchmark(group="serve batch 1")
def test_baseline_empty_request_round_trip(benchmark, server, session) -> None:
    url = f"{server.url}/v2/health/live"
    benchmark.pedantic(lambda: session.get(url).raise_for_status(), rounds=ROUNDS, warmup_rounds=10)
    record(benchmark, "HTTP round trip, empty request", 0)


@pytest.mark.benchmark(group="serve batch 1")
def test_predict_batch_1(benchmark, server, session, images) -> None:
    url, body = f"{server.url}/v1/models/small_cnn:predict", predict_body(images[:1])
    benchmark.pedantic(lambda: session.post(url, json=body).raise_for_status(), rounds=ROUNDS, warmup_rounds=10)
    record(benchmark, ":predict, batch 1", 1)
    baseline = RESULTS["direct, batch 1"]["p50_ms"] + RESULTS["HTTP round trip, empty request"]["p50_ms"]
    assert RESULTS[":predict, batch 1"]["p50_ms"] <= GOAL * baseline, RESULTS


@pytest.mark.benchmark(group="serve batch 32")
def test_baseline_direct_call_batch_32(benchmark, direct, images) -> None:
    benchmark.pedantic(direct, args=(images,), rounds=ROUNDS // 3, warmup_rounds=3)
    record(benchmark, "direct, batch 32", 32)


@pytest.mark.benchmark(group="serve batch 32")
def test_predict_batch_32(benchmark, server, session, images) -> None:
    url, body = f"{server.url}/v1/models/small_cnn:predict", predict_body(images)
    benchmark.pedantic(lambda: session.post(url, json=body).raise_for_status(), rounds=ROUNDS // 3, warmup_rounds=3)
    record(benchmark, ":predict, batch 32", 32)
    threads = {pool: os.environ.get(f"TF_NUM_{pool.upper()}_THREADS", "TensorFlow's choice")
               for pool in ("intraop", "interop")}
    print(f"\nTensorFlow threads, direct call and server alike: {threads}")
    print("\n".join(f"{name:32} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                    f"{r['images_per_s']:8.0f} images/s" for name, r in RESULTS.items()))
