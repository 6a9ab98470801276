"""What both protocols share: which model name and version this server answers for, and classifying images."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fairvision.serve.batcher import MicroBatcher
from fairvision.serve.body import RequestError
from fairvision.serve.instances import image_bytes
from fairvision.serve.model import ServedModel, UndecodableImage
from fairvision.serve.options import ServeOptions


@dataclasses.dataclass(frozen=True)
class Service:
    """The served model behind its batcher, under the name and version in ``options``."""

    model: ServedModel
    options: ServeOptions
    batcher: MicroBatcher

    @property
    def version(self) -> str:
        return str(self.options.version)

    def check_model(self, name: str, version: str | None = None) -> None:
        """404 unless ``name`` (and ``version``, if the URL gives one) is what this server serves."""
        if name != self.options.name:
            raise RequestError(f"model {name!r} is not served here; this server serves {self.options.name!r}", 404)
        if version is not None and version != self.version:
            raise RequestError(f"model {name!r} has no version {version!r}; the served version is {self.version}", 404)

    def image(self, encoded: object, where: str) -> bytes:
        return image_bytes(encoded, where, max_pixels=self.options.max_image_pixels)

    async def classify(self, images: Sequence[bytes], where: str) -> dict[str, np.ndarray]:
        """The model's outputs for ``images`` (first axis the image); 400 naming ``where[i]`` if TensorFlow rejects
        one."""
        if not images:
            raise RequestError(f"{where} is empty: send at least one image")
        rows = await self.batcher.predict(images)
        for index, row in enumerate(rows):
            if isinstance(row, UndecodableImage):
                raise RequestError(f"{where}[{index}]: TensorFlow cannot decode the image ({row})")
            if isinstance(row, BaseException):
                raise row
        return {output.name: np.stack([row[output.name] for row in rows]) for output in self.model.outputs}
