"""`fairvision serve` under a flood of its costliest requests: memory stays bounded and health keeps answering.

32 clients send, for 20 s and without pause, requests of maximal flat-colour PNGs (the most
pixels the server accepts, in ~60 KB each: the cheapest way to make it decode the most) and
requests of too many of them, over both protocols, while a probe polls /v2/health/ready. The
server runs in its own process on 127.0.0.1 and its RSS is sampled with psutil. Every answer
must be 200 or 503 with Retry-After (the queue was full) for the first kind, 413 for the
second: no other status, no other 5xx, no dropped connection. Its peak RSS must stay within the bound the
README documents (RSS after loading the model + ServeOptions.memory_bound for these flags), the
probe's p99 within 100 ms, and afterwards it serves as before. The default --max-image-pixels
is kept (for this 16-px model, the 4096 x 4096 floor); the queue and the per-request limit are
small so that a full queue drains in seconds on 2 cores, where one maximal image takes ~0.2 s.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from conftest import SERVE_IMAGE_SIZE, SERVE_LABELS, encode_image
from serving import MODEL_NAME, running_server

CLIENTS, FLOOD_S = 32, 20.0
HEALTH_P99_S = 0.100
PROBE_INTERVAL_S = 0.02
REQUEST_TIMEOUT_S = 60  # a bound, not a goal: a request still unanswered then counts as dropped
# uvicorn counts a request until its task's done-callback has run, by which time the connection's next request may
# have started: under load, up to 2 per connection (45 seen for 32 connections). 80 > 2 x 33, so uvicorn's own 503
# (which closes the connection) never meets the flood; it is tested apart. A body over --max-body-bytes is not part
# of the flood: answered before it is read, it makes clients reconnect (tests/test_serve.py covers it).
MAX_BODY_BYTES, LIMIT_CONCURRENCY = 2**20, 80
MAX_IMAGES, MAX_QUEUED = 8, 16
FLAGS = ("--max-batch-size", "8", "--max-body-bytes", str(MAX_BODY_BYTES), "--limit-concurrency",
         str(LIMIT_CONCURRENCY), "--max-images-per-request", str(MAX_IMAGES), "--max-queued-images", str(MAX_QUEUED))
PREDICT, INFER = f"/v1/models/{MODEL_NAME}:predict", f"/v2/models/{MODEL_NAME}/infer"
PHOTO_SIDE = 4096  # the default --max-image-pixels for a 16-px model is 4096 x 4096


def maximal_png(colour: tuple[int, int, int]) -> str:
    """The largest image the server accepts by default, flat colour: ~60 KB of PNG, 50 MB once decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (PHOTO_SIDE, PHOTO_SIDE), colour).save(buffer, "PNG", compress_level=9)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def v1(*images: str) -> dict:
    return {"instances": [{"b64": image} for image in images]}


def v2(*images: str) -> dict:
    return {"inputs": [{"name": "image_bytes", "shape": [len(images)], "datatype": "BYTES", "data": list(images)}]}


def flood_requests() -> list[tuple[str, str, bytes, set[int]]]:
    """(kind, path, JSON body, the statuses it may get), in the order clients take them."""
    pngs = [maximal_png((37 * i % 256, 90, 200 - i)) for i in range(4)]
    many = [pngs[i % 4] for i in range(MAX_IMAGES + 1)]
    served = {200, 503}
    kinds = [("maximal png, v1", PREDICT, v1(pngs[0]), served),
             ("maximal pngs, v2", INFER, v2(pngs[1], pngs[2]), served),
             ("too many images, v1", PREDICT, v1(*many), {413}),
             ("too many images, v2", INFER, v2(*many), {413}),
             ("maximal pngs, v1", PREDICT, v1(pngs[3], pngs[0]), served)]
    return [(kind, path, json.dumps(body).encode(), allowed) for kind, path, body, allowed in kinds]


class RssSampler:
    """The server process's peak RSS, sampled every 5 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self._process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# The probe runs in a process of its own: in this one, the flood's event loop and this process's garbage collector
# (TensorFlow is imported here too) would add their pauses to what it measures.
PROBE = """
import json, sys, threading, time
import requests
url, interval, stop = sys.argv[1], float(sys.argv[2]), threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
answers = []
with requests.Session() as session:
    while not stop.wait(interval):
        start = time.perf_counter()
        try:
            status = session.get(url, timeout=10).status_code
        except requests.RequestException as error:
            status = type(error).__name__
        answers.append((time.perf_counter() - start, status))
print(json.dumps(answers))
"""


class HealthProbe:
    """Polls /v2/health/ready on its own connection every PROBE_INTERVAL_S, from another process, until stopped."""

    def __init__(self, url: str) -> None:
        self._process = subprocess.Popen([sys.executable, "-c", PROBE, f"{url}/v2/health/ready",
                                          str(PROBE_INTERVAL_S)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def stop(self) -> list[tuple[float, int | str]]:
        """(seconds, status or the exception's name) of each probe."""
        out, _ = self._process.communicate(b"", timeout=60)
        assert self._process.returncode == 0, out
        return [tuple(answer) for answer in json.loads(out)]


async def flood(url: str, bodies: list[tuple[str, str, bytes, set[int]]]) -> list[tuple[str, int | str, str]]:
    """CLIENTS clients, each sending ``bodies`` in turn (from its own offset) for FLOOD_S; (kind, status or the
    exception's name, Retry-After) per request."""
    results: list[tuple[str, int | str, str]] = []
    deadline = time.monotonic() + FLOOD_S
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    headers = {"Content-Type": "application/json"}

    async def client(offset: int) -> None:
        async with aiohttp.ClientSession(url, timeout=timeout) as session:
            turn = offset
            while time.monotonic() < deadline:
                kind, path, body, _ = bodies[turn % len(bodies)]
                turn += 1
                try:
                    async with session.post(path, data=body, headers=headers) as response:
                        await response.read()
                        results.append((kind, response.status, response.headers.get("Retry-After", "")))
                except (aiohttp.ClientError, TimeoutError) as error:
                    results.append((kind, type(error).__name__, ""))

    await asyncio.gather(*(client(offset) for offset in range(CLIENTS)))
    return results


@pytest.fixture(scope="module")
def flooded(serve_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_server(serve_model_dir, *FLAGS, cwd=tmp_path_factory.mktemp("serve-flood")) as server:
        yield server


def test_a_flood_of_maximal_images_and_oversized_requests(flooded) -> None:
    from fairvision.serve.options import ServeOptions

    bodies = flood_requests()
    allowed = {kind: statuses for kind, _, _, statuses in bodies}
    rss_start = psutil.Process(flooded.pid).memory_info().rss
    rss, probe = RssSampler(flooded.pid), HealthProbe(flooded.url)
    try:
        results = asyncio.run(flood(flooded.url, bodies))
    finally:
        health, peak = probe.stop(), rss.stop()
    options = ServeOptions(name=MODEL_NAME, version=1, max_batch_size=8, batch_timeout_ms=0,
                           max_body_bytes=MAX_BODY_BYTES, max_image_pixels=None, max_images_per_request=MAX_IMAGES,
                           max_queued_images=MAX_QUEUED, limit_concurrency=LIMIT_CONCURRENCY)
    bound = options.memory_bound(SERVE_IMAGE_SIZE)
    latencies = np.array([seconds for seconds, _ in health])
    counts = collections.Counter((kind, status) for kind, status, _ in results)
    print(f"\nflood: {len(results)} requests in {FLOOD_S:.0f} s from {CLIENTS} clients: "
          f"{dict(sorted(collections.Counter(str(status) for _, status, _ in results).items()))}; by kind "
          f"{dict(sorted(counts.items(), key=str))}\nserver RSS: {rss_start / 2**20:.0f} MiB at start, peak "
          f"{peak / 2**20:.0f} MiB (+{(peak - rss_start) / 2**20:.0f} MiB; documented bound +{bound / 2**20:.0f} "
          f"MiB)\nhealth: {len(health)} probes, p50 {np.percentile(latencies, 50) * 1000:.1f} ms, p99 "
          f"{np.percentile(latencies, 99) * 1000:.1f} ms, max {latencies.max() * 1000:.1f} ms")

    unexpected = {key: n for key, n in counts.items() if key[1] not in allowed[key[0]]}
    assert not unexpected, f"not 200/503 (maximal pngs) or 413 (too many images), or dropped: {unexpected}"
    assert {status for _, status, _ in results} >= {200, 413, 503}, counts  # each bound was reached
    assert all(retry == "1" for _, status, retry in results if status == 503), "a 503 without Retry-After"
    assert peak - rss_start <= bound, f"RSS grew {(peak - rss_start) / 2**20:.0f} MiB, past {bound / 2**20:.0f}"
    assert {status for _, status in health} == {200}, collections.Counter(status for _, status in health)
    assert np.percentile(latencies, 99) <= HEALTH_P99_S

    answer = requests.post(flooded.url + PREDICT, json=v1(base64.b64encode(encode_image((9, 99, 199))).decode()),
                           timeout=30)
    assert answer.status_code == 200 and answer.json()["predictions"][0]["classes"] == SERVE_LABELS
    assert flooded.metric("fairvision_request_errors_total", route="/v1/models/{name}:predict", kind="server") == \
        counts[("maximal png, v1", 503)] + counts[("maximal pngs, v1", 503)]  # the only 5xx: queue full


def test_past_limit_concurrency_connections_uvicorn_answers_503(flooded) -> None:
    """uvicorn counts open connections, the requesting one included: with LIMIT_CONCURRENCY - 1 others open, a
    request is answered 503; once they close, requests are served again."""
    idle = [socket.create_connection(("127.0.0.1", int(flooded.url.rsplit(":", 1)[1])))
            for _ in range(LIMIT_CONCURRENCY - 1)]
    try:
        time.sleep(0.5)  # the server has accepted them all
        assert requests.get(f"{flooded.url}/v2/health/ready", timeout=10).status_code == 503
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.5)
    assert requests.get(f"{flooded.url}/v2/health/ready", timeout=10).status_code == 200
