"""`fairvision serve` under concurrent load over real HTTP: batching, no 5xx, no dropped request, flat memory."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import numpy as np
import psutil

from conftest import SERVE_FLAGS, encode_array
from serving import MODEL_NAME

CLIENTS, REQUESTS_EACH = 16, 200
REQUEST_TIMEOUT_S, RUN_TIMEOUT_S = 60, 300  # bounds, not speed goals: a hung server fails instead of hanging CI
RSS_GROWTH_LIMIT = 32 * 2**20  # after warm-up (about 3 MiB measured); a leak of 10 KiB per request exceeds it
PREDICT = f"/v1/models/{MODEL_NAME}:predict"
INFER = f"/v2/models/{MODEL_NAME}/infer"


def bodies(count: int) -> list[tuple[str, dict, int]]:
    """(path, body, expected status): distinct images over both protocols, every 10th a bad one (400)."""
    rng = np.random.default_rng(0)
    out = []
    for index in range(count):
        image = base64.b64encode(encode_array(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "JPEG")).decode()
        if index % 10 == 9:
            out.append((PREDICT, {"instances": [{"b64": image[:-8] + "!!!!!!!!"}]}, 400))
        elif index % 2:
            out.append((INFER, {"inputs": [{"name": "image_bytes", "shape": [1], "datatype": "BYTES",
                                            "data": [image]}]}, 200))
        else:
            out.append((PREDICT, {"instances": [{"b64": image}]}, 200))
    return out


async def hammer(url: str, requests: list[tuple[str, dict, int]], clients: int) -> list[tuple[int, int]]:
    """Send ``requests`` from ``clients`` concurrent clients (each one request at a time); (expected, got) per
    request."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    results: list[tuple[int, int]] = []

    async def client(share: list[tuple[str, dict, int]]) -> None:
        async with aiohttp.ClientSession(url, timeout=timeout) as session:
            for path, body, expected in share:
                async with session.post(path, json=body) as response:
                    await response.read()
                    results.append((expected, response.status))

    await asyncio.wait_for(asyncio.gather(*(client(requests[i::clients]) for i in range(clients))), RUN_TIMEOUT_S)
    return results


def test_requests_arriving_together_share_model_calls(served) -> None:
    calls_before = served.metric("fairvision_batch_size_count")
    images_before = served.metric("fairvision_batch_size_sum")
    requests = [r for r in bodies(10) if r[2] == 200][:8]
    results = asyncio.run(hammer(served.url, requests, clients=len(requests)))
    assert results == [(200, 200)] * len(requests)
    calls = served.metric("fairvision_batch_size_count") - calls_before
    assert served.metric("fairvision_batch_size_sum") - images_before == len(requests)
    assert 1 <= calls < len(requests), f"{len(requests)} concurrent requests took {calls} model calls"
    assert "--batch-timeout-ms" in SERVE_FLAGS  # the window that lets them meet


def test_16_clients_x_200_requests_no_5xx_none_dropped_memory_flat(served) -> None:
    server = psutil.Process(served.pid)
    asyncio.run(hammer(served.url, bodies(CLIENTS * 20), CLIENTS))  # warm-up: allocator pools, connections
    rss_before = server.memory_info().rss
    requests = bodies(CLIENTS * REQUESTS_EACH)

    results = asyncio.run(hammer(served.url, requests, CLIENTS))

    rss_growth = server.memory_info().rss - rss_before
    assert len(results) == len(requests)  # every request answered
    assert not [got for _, got in results if got >= 500]
    assert sorted(results) == sorted((expected, expected) for _, _, expected in requests)
    assert rss_growth < RSS_GROWTH_LIMIT, f"server RSS grew {rss_growth / 2**20:.1f} MiB over {len(requests)} requests"
    assert served.metric("fairvision_request_errors_total", route="/v1/models/{name}:predict", kind="server") == 0
    # batching happened
    assert served.metric("fairvision_batch_size_count") < served.metric("fairvision_batch_size_sum")
