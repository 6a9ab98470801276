"""What both protocols share: which model name and version this server answers for, reading a request's body and
images within the server's limits, and classifying images."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Any, Sequence

import numpy as np
from starlette.requests import Request

from fairvision.serve.batcher import MicroBatcher, QueueFull
from fairvision.serve.body import RequestError, json_body
from fairvision.serve.instances import CheckedImage, image_bytes
from fairvision.serve.model import ServedModel, UndecodableImage
from fairvision.serve.offload import INLINE_BYTES, off_loop
from fairvision.serve.options import ServeOptions

RETRY_AFTER_S = 1  # whole seconds (HTTP's unit); a full queue of ordinary images drains well within one


@dataclasses.dataclass(frozen=True)
class Service:
    """The served model behind its batcher, under the name, version and limits in ``options`` (``max_image_pixels``
    resolved for this model); ``pool`` parses large bodies off the event loop."""

    model: ServedModel
    options: ServeOptions
    batcher: MicroBatcher
    pool: concurrent.futures.Executor

    @property
    def version(self) -> str:
        return str(self.options.version)

    def check_model(self, name: str, version: str | None = None) -> None:
        """404 unless ``name`` (and ``version``, if the URL gives one) is what this server serves."""
        if name != self.options.name:
            raise RequestError(f"model {name!r} is not served here; this server serves {self.options.name!r}", 404)
        if version is not None and version != self.version:
            raise RequestError(f"model {name!r} has no version {version!r}; the served version is {self.version}", 404)

    async def body(self, request: Request) -> Any:
        """The request's parsed JSON body, within --max-body-bytes."""
        return await json_body(request, self.options.max_body_bytes, self.pool)

    def check_count(self, count: int, where: str) -> None:
        """413 if ``where`` holds more images than one request may; checked before any image is decoded."""
        limit = self.options.max_images_per_request
        if count > limit:
            raise RequestError(f"{where} holds {count} images; this server takes at most {limit} per request "
                               "(fairvision serve --max-images-per-request): send them in several requests", 413)

    async def images(self, encoded: Sequence[tuple[Any, str]]) -> list[CheckedImage]:
        """Each (base64 text, where it was) as a checked image; a 400 naming the first bad one. Anything more than
        one small image is checked in a worker thread, so the event loop stays free for other requests."""

        def check() -> list[CheckedImage]:
            return [image_bytes(value, where, max_pixels=self.options.max_image_pixels) for value, where in encoded]

        small = len(encoded) <= 1 and all(not isinstance(value, str) or len(value) <= INLINE_BYTES
                                          for value, _ in encoded)
        return await off_loop(self.pool, check, inline=small)

    async def classify(self, images: Sequence[CheckedImage], where: str) -> dict[str, np.ndarray]:
        """The model's outputs for ``images`` (first axis the image); 400 naming ``where[i]`` if TensorFlow rejects
        one, 503 with Retry-After if the queue cannot take them now."""
        if not images:
            raise RequestError(f"{where} is empty: send at least one image")
        try:
            rows = await self.batcher.predict(images)
        except QueueFull as full:
            raise RequestError(
                f"the server is busy: {full.waiting} images are waiting for the model and this request's {full.wanted} "
                f"would pass its queue of {full.capacity} (fairvision serve --max-queued-images); retry after "
                f"{RETRY_AFTER_S} s", 503, {"Retry-After": str(RETRY_AFTER_S)}) from None
        for index, row in enumerate(rows):
            if isinstance(row, UndecodableImage):
                raise RequestError(f"{where}[{index}]: TensorFlow cannot decode the image ({row})")
            if isinstance(row, BaseException):
                raise row
        return {output.name: np.stack([row[output.name] for row in rows]) for output in self.model.outputs}
