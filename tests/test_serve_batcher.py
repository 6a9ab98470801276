"""The micro-batcher on its own: which images share a model call, on which thread, and how a bad image fails."""

from __future__ import annotations

import asyncio
import threading
from typing import Sequence

import numpy as np
import pytest

from fairvision.serve.batcher import MicroBatcher
from fairvision.serve.model import UndecodableImage


class RecordingModel:
    """Stands in for the model: outputs each image's length; remembers each call's images and thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[bytes], int]] = []

    def predict(self, images: Sequence[bytes]) -> dict[str, np.ndarray]:
        self.calls.append((list(images), threading.get_ident()))
        if any(image.startswith(b"bad") for image in images):
            raise UndecodableImage("truncated")
        return {"length": np.array([len(image) for image in images])}


def run_with_batcher(model: RecordingModel, body, **options):
    """Run ``body(batcher)`` on a fresh event loop while a started batcher serves ``model``."""
    observed: list[int] = []

    async def main():
        batcher = MicroBatcher(model.predict, max_batch_size=options.get("max_batch_size", 32),
                               timeout_s=options.get("timeout_s", 0.0), observe=lambda size, _: observed.append(size))
        batcher.start()
        try:
            return await body(batcher), threading.get_ident(), observed
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_a_lone_image_runs_on_the_event_loop() -> None:
    model = RecordingModel()
    rows, loop_thread, observed = run_with_batcher(model, lambda batcher: batcher.predict([b"abc"]))
    assert [row["length"] for row in rows] == [3]
    assert model.calls == [([b"abc"], loop_thread)]
    assert observed == [1]


def test_images_queued_together_share_one_call_in_the_worker_thread() -> None:
    model = RecordingModel()
    images = [b"a" * size for size in range(1, 6)]

    async def five_requests(batcher):
        return await asyncio.gather(*(batcher.predict([image]) for image in images))

    answers, loop_thread, observed = run_with_batcher(model, five_requests)
    assert [[row["length"] for row in rows] for rows in answers] == [[1], [2], [3], [4], [5]]
    assert len(model.calls) == 1 and model.calls[0][0] == images
    assert model.calls[0][1] != loop_thread
    assert observed == [5]


def test_batches_never_exceed_the_maximum() -> None:
    model = RecordingModel()
    rows, _, observed = run_with_batcher(model, lambda batcher: batcher.predict([b"x"] * 7), max_batch_size=3)
    assert len(rows) == 7
    assert observed == [3, 3, 1]


def test_an_undecodable_image_fails_only_its_own_request() -> None:
    model = RecordingModel()

    async def mixed(batcher):
        return await asyncio.gather(batcher.predict([b"good"]), batcher.predict([b"bad image"]),
                                    batcher.predict([b"fine"]))

    (good, bad, fine), _, _ = run_with_batcher(model, mixed)
    assert good[0]["length"] == 4 and fine[0]["length"] == 4
    assert isinstance(bad[0], UndecodableImage)
    assert [images for images, _ in model.calls] == [[b"good", b"bad image", b"fine"], [b"good"], [b"bad image"],
                                                     [b"fine"]]


@pytest.mark.parametrize("timeout_s", [0.0, 0.2])
def test_the_timeout_waits_for_late_images(timeout_s: float) -> None:
    model = RecordingModel()

    async def two_apart(batcher):
        first = asyncio.ensure_future(batcher.predict([b"early"]))
        await asyncio.sleep(0.01)
        return await asyncio.gather(first, batcher.predict([b"late"]))

    _, _, observed = run_with_batcher(model, two_apart, timeout_s=timeout_s)
    assert observed == ([1, 1] if timeout_s == 0 else [2])
