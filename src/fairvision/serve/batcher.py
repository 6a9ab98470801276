"""Micro-batching: images from requests that arrive together go to the model in one call.

One asyncio task collects queued images (up to ``max_batch_size``, waiting at most
``timeout_s`` after the first for more) and runs each batch in a worker thread, so the
event loop keeps accepting requests while the model works; images that queue meanwhile
form the next batch. A lone image with nothing queued behind it is run on the event loop
itself: with no other request to accept meanwhile, the two thread switches would only add
to its latency. A batch TensorFlow rejects (an image that passed the header checks
but does not decode) is retried image by image, so only the request holding the bad image
fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from fairvision.serve.model import UndecodableImage

Outputs = dict[str, np.ndarray]  # output name -> values, first axis the image
Row = dict[str, np.ndarray]  # output name -> one image's values


@dataclasses.dataclass(frozen=True)
class _Item:
    image: bytes
    future: asyncio.Future


class MicroBatcher:
    """Queue of images in front of one model; ``predict`` awaits a request's rows."""

    def __init__(self, predict: Callable[[Sequence[bytes]], Outputs], *, max_batch_size: int, timeout_s: float,
                 observe: Callable[[int, float], None]) -> None:
        self._predict, self._max, self._timeout = predict, max_batch_size, timeout_s
        self._observe = observe  # (images in the call, seconds it took)
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
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

    async def predict(self, images: Sequence[bytes]) -> list[Row | BaseException]:
        """One row per image, or the exception its call raised (UndecodableImage for a bad image)."""
        loop = asyncio.get_running_loop()
        items = [_Item(image, loop.create_future()) for image in images]
        for item in items:
            self._queue.put_nowait(item)
        return await asyncio.gather(*(item.future for item in items), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [item for item in batch if not item.future.done()]  # a cancelled request's images are skipped
            if live:
                await self._call(live)

    async def _next_batch(self) -> list[_Item]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self._timeout
        while len(batch) < self._max:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
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

    async def _timed(self, images: list[bytes]) -> Outputs:
        start = time.perf_counter()
        try:
            if len(images) == 1 and self._queue.empty():
                return self._predict(images)
            return await asyncio.get_running_loop().run_in_executor(self._worker, self._predict, images)
        finally:
            self._observe(len(images), time.perf_counter() - start)


def _settle(items: list[_Item], *, row: Row | None = None, error: BaseException | None = None) -> None:
    for item in items:
        if not item.future.done():
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(row)
