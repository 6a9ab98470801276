"""Micro-batching: images from requests that arrive together go to the model in one call.

One asyncio task collects waiting images (up to ``max_batch_size`` and ``max_batch_pixels``
decoded pixels, waiting at most ``timeout_s`` after the first for more) and runs each batch in
a worker thread, so the event loop keeps accepting requests while the model works; images that
queue meanwhile form the next batch. The pixel budget bounds a call's memory: the signature
decodes several images at once, each taking a few bytes per pixel, and one image is never
split. A lone small image (at most ``inline_pixels``) with nothing waiting behind it is run on
the event loop itself: with no other request to accept meanwhile, the two thread switches
would only add to its latency; a larger one would hold up every other request, health checks
included. At most ``max_queued_images`` wait: a request whose images would pass that is
refused whole (QueueFull), so a burst is answered at once instead of waiting without end. A
batch TensorFlow rejects (an image that passed the header checks but does not decode) is
retried image by image, so only the request holding the bad image fails.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from fairvision.serve.instances import CheckedImage
from fairvision.serve.model import UndecodableImage

Outputs = dict[str, np.ndarray]  # output name -> values, first axis the image
Row = dict[str, np.ndarray]  # output name -> one image's values


class QueueFull(Exception):
    """A request's images would pass the queue's bound; it was not queued (the client should retry later)."""

    def __init__(self, waiting: int, wanted: int, capacity: int) -> None:
        super().__init__(f"{waiting} images waiting, {wanted} more would pass {capacity}")
        self.waiting, self.wanted, self.capacity = waiting, wanted, capacity


@dataclasses.dataclass(frozen=True, eq=False)  # eq=False: compared by identity, as the queue removes them
class _Item:
    image: CheckedImage
    future: asyncio.Future


class MicroBatcher:
    """Queue of images in front of one model; ``predict`` awaits a request's rows."""

    def __init__(self, predict: Callable[[Sequence[bytes]], Outputs], *, max_batch_size: int, max_batch_pixels: int,
                 max_queued_images: int, inline_pixels: int, timeout_s: float,
                 observe: Callable[[int, float], None]) -> None:
        self._predict, self._max, self._max_pixels, self._timeout = predict, max_batch_size, max_batch_pixels, timeout_s
        self._capacity, self._inline_pixels = max_queued_images, inline_pixels
        self._observe = observe  # (images in the call, seconds it took)
        self._waiting: collections.deque[_Item] = collections.deque()
        self._arrived = asyncio.Event()  # set when images join _waiting
        self._task: asyncio.Task | None = None
        # One thread for every batch's model call: calls never overlap (the batcher awaits each; a lone image's
        # call blocks the loop), and TensorFlow's per-thread eager state is set up once per thread, not per call.
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fairvision-model")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fairvision-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def predict(self, images: Sequence[CheckedImage]) -> list[Row | BaseException]:
        """One row per image, or the exception its call raised (UndecodableImage for a bad image); QueueFull,
        queueing none of them, when they would pass the queue's bound."""
        if len(self._waiting) + len(images) > self._capacity:
            raise QueueFull(len(self._waiting), len(images), self._capacity)
        loop = asyncio.get_running_loop()
        items = [_Item(image, loop.create_future()) for image in images]
        self._waiting.extend(items)
        self._arrived.set()
        try:
            return await asyncio.gather(*(item.future for item in items), return_exceptions=True)
        except asyncio.CancelledError:  # the client went away: its images leave the queue (and free its room)
            for item in items:
                if item in self._waiting:
                    self._waiting.remove(item)
            raise

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [item for item in batch if not item.future.done()]  # a cancelled request's images are skipped
            if live:
                await self._call(live)

    async def _next_batch(self) -> list[_Item]:
        loop = asyncio.get_running_loop()
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        batch = [self._waiting.popleft()]
        pixels = batch[0].image.pixels
        deadline = loop.time() + self._timeout
        while len(batch) < self._max:
            if self._waiting:
                if pixels + self._waiting[0].image.pixels > self._max_pixels:
                    break  # it starts the next call
                batch.append(self._waiting.popleft())
                pixels += batch[-1].image.pixels
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return batch

    async def _call(self, batch: list[_Item]) -> None:
        try:
            outputs = await self._timed([item.image for item in batch])
        except UndecodableImage:
            for item in batch:
                if not item.future.done():
                    await self._call_one(item)
            return
        except Exception as error:  # a bug, not the client's input: every request in the batch answers 500
            _settle(batch, error=error)
            return
        for index, item in enumerate(batch):
            _settle([item], row={name: values[index] for name, values in outputs.items()})

    async def _call_one(self, item: _Item) -> None:
        try:
            outputs = await self._timed([item.image])
        except Exception as error:
            _settle([item], error=error)
        else:
            _settle([item], row={name: values[0] for name, values in outputs.items()})

    async def _timed(self, images: list[CheckedImage]) -> Outputs:
        start = time.perf_counter()
        data = [image.data for image in images]
        try:
            if len(images) == 1 and not self._waiting and images[0].pixels <= self._inline_pixels:
                return self._predict(data)
            return await asyncio.get_running_loop().run_in_executor(self._worker, self._predict, data)
        finally:
            self._observe(len(images), time.perf_counter() - start)


def _settle(items: list[_Item], *, row: Row | None = None, error: BaseException | None = None) -> None:
    for item in items:
        if not item.future.done():
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(row)
