"""The micro-batcher on its own: which images share a model call, on which thread, how a bad image fails, and its
bounds (pixels per call, images waiting)."""

from __future__ import annotations

import asyncio
import threading
from typing import Sequence

import numpy as np
import pytest

from fairvision.serve.batcher import MicroBatcher, QueueFull
from fairvision.serve.instances import CheckedImage
from fairvision.serve.model import UndecodableImage

INLINE_PIXELS = 100  # the batcher's inline_pixels in these tests: the test images are smaller unless told


def checked(*images: bytes, pixels: int = 1) -> list[CheckedImage]:
    return [CheckedImage(image, pixels) for image in images]


class RecordingModel:
    """Stands in for the model: outputs each image's length; remembers each call's images and thread; each call
    waits for ``gate`` (set: never)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[bytes], int]] = []
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, images: Sequence[bytes]) -> dict[str, np.ndarray]:
        self.calls.append((list(images), threading.get_ident()))
        assert self.gate.wait(10), "the test never opened the gate"
        if any(image.startswith(b"bad") for image in images):
            raise UndecodableImage("truncated")
        return {"length": np.array([len(image) for image in images])}


def run_with_batcher(model: RecordingModel, body, **options):
    """Run ``body(batcher)`` on a fresh event loop while a started batcher serves ``model``."""
    observed: list[int] = []

    async def main():
        batcher = MicroBatcher(model.predict, max_batch_size=options.get("max_batch_size", 32),
                               max_batch_pixels=options.get("max_batch_pixels", 10**9),
                               max_queued_images=options.get("max_queued_images", 1000), inline_pixels=INLINE_PIXELS,
                               timeout_s=options.get("timeout_s", 0.0), observe=lambda size, _: observed.append(size))
        batcher.start()
        try:
            return await body(batcher), threading.get_ident(), observed
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_a_lone_image_runs_on_the_event_loop() -> None:
    model = RecordingModel()
    rows, loop_thread, observed = run_with_batcher(model, lambda batcher: batcher.predict(checked(b"abc")))
    assert [row["length"] for row in rows] == [3]
    assert model.calls == [([b"abc"], loop_thread)]
    assert observed == [1]


def test_a_lone_large_image_runs_in_the_worker_thread() -> None:
    """Decoding an image larger than the model's input takes long enough to hold up every other request."""
    model = RecordingModel()
    rows, loop_thread, _ = run_with_batcher(
        model, lambda batcher: batcher.predict(checked(b"big photo", pixels=INLINE_PIXELS + 1)))
    assert [row["length"] for row in rows] == [9]
    assert [images for images, _ in model.calls] == [[b"big photo"]] and model.calls[0][1] != loop_thread


def test_images_queued_together_share_one_call_in_the_worker_thread() -> None:
    model = RecordingModel()
    images = [b"a" * size for size in range(1, 6)]

    async def five_requests(batcher):
        return await asyncio.gather(*(batcher.predict(checked(image)) for image in images))

    answers, loop_thread, observed = run_with_batcher(model, five_requests)
    assert [[row["length"] for row in rows] for rows in answers] == [[1], [2], [3], [4], [5]]
    assert len(model.calls) == 1 and model.calls[0][0] == images
    assert model.calls[0][1] != loop_thread
    assert observed == [5]


def test_batches_never_exceed_the_maximum() -> None:
    model = RecordingModel()
    rows, _, observed = run_with_batcher(model, lambda batcher: batcher.predict(checked(*[b"x"] * 7)),
                                         max_batch_size=3)
    assert len(rows) == 7
    assert observed == [3, 3, 1]


def test_a_call_decodes_at_most_max_batch_pixels_and_never_splits_an_image() -> None:
    model = RecordingModel()
    sizes = [(b"a", 6), (b"b", 6), (b"c", 3), (b"d", 20), (b"e", 1)]

    async def five_requests(batcher):
        return await asyncio.gather(*(batcher.predict(checked(image, pixels=pixels)) for image, pixels in sizes))

    run_with_batcher(model, five_requests, max_batch_pixels=12)
    assert [images for images, _ in model.calls] == [[b"a", b"b"], [b"c"], [b"d"], [b"e"]]


def test_a_full_queue_refuses_a_request_whole_then_takes_it_once_drained() -> None:
    model = RecordingModel()
    model.gate.clear()  # the model is busy until the test opens the gate

    async def burst(batcher):
        busy = asyncio.ensure_future(batcher.predict(checked(b"first", pixels=INLINE_PIXELS + 1)))
        await asyncio.sleep(0.05)  # the batcher has handed it to the model, which waits
        waiting = asyncio.ensure_future(batcher.predict(checked(b"a", b"b", b"c")))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as refused:
            await batcher.predict(checked(b"d", b"e"))
        model.gate.set()
        await asyncio.gather(busy, waiting)
        return refused.value, await batcher.predict(checked(b"d", b"e"))

    (refused, later), _, _ = run_with_batcher(model, burst, max_queued_images=4)
    assert (refused.waiting, refused.wanted, refused.capacity) == (3, 2, 4)
    assert [row["length"] for row in later] == [1, 1]
    assert [images for images, _ in model.calls] == [[b"first"], [b"a", b"b", b"c"], [b"d", b"e"]]  # none queued


def test_a_cancelled_request_leaves_the_queue() -> None:
    """A client that went away frees its room at once, and its images never reach the model."""
    model = RecordingModel()
    model.gate.clear()

    async def abandoned(batcher):
        busy = asyncio.ensure_future(batcher.predict(checked(b"first", pixels=INLINE_PIXELS + 1)))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batcher.predict(checked(b"a", b"b", b"c", b"d")))  # fills the queue
        await asyncio.sleep(0)
        gone.cancel()  # the client disconnected
        await asyncio.gather(gone, return_exceptions=True)
        after = asyncio.ensure_future(batcher.predict(checked(b"w", b"x", b"y", b"z")))  # refused, had they stayed
        await asyncio.sleep(0)
        model.gate.set()
        return await asyncio.gather(busy, after)

    run_with_batcher(model, abandoned, max_queued_images=4)
    assert [images for images, _ in model.calls] == [[b"first"], [b"w", b"x", b"y", b"z"]]


def test_an_undecodable_image_fails_only_its_own_request() -> None:
    model = RecordingModel()

    async def mixed(batcher):
        return await asyncio.gather(batcher.predict(checked(b"good")), batcher.predict(checked(b"bad image")),
                                    batcher.predict(checked(b"fine")))

    (good, bad, fine), _, _ = run_with_batcher(model, mixed)
    assert good[0]["length"] == 4 and fine[0]["length"] == 4
    assert isinstance(bad[0], UndecodableImage)
    assert [images for images, _ in model.calls] == [[b"good", b"bad image", b"fine"], [b"good"], [b"bad image"],
                                                     [b"fine"]]


@pytest.mark.parametrize("timeout_s", [0.0, 0.2])
def test_the_timeout_waits_for_late_images(timeout_s: float) -> None:
    model = RecordingModel()

    async def two_apart(batcher):
        first = asyncio.ensure_future(batcher.predict(checked(b"early")))
        await asyncio.sleep(0.01)
        return await asyncio.gather(first, batcher.predict(checked(b"late")))

    _, _, observed = run_with_batcher(model, two_apart, timeout_s=timeout_s)
    assert observed == ([1, 1] if timeout_s == 0 else [2])
