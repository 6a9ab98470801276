"""What a running server is told: the name and version it serves, and its limits, validated before anything loads.

The limits bound the server's memory beyond the loaded model (``memory_bound``): at most
``limit_concurrency`` requests are in progress, each holding its body up to three times
(the bytes read, their JSON text and values, the decoded images), and one model call
decodes at most ``batch_pixels`` pixels at about 6 bytes each.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fairvision.errors import FairvisionError
from fairvision.params import MAX_IMAGE_PIXELS_CEILING

# Default --max-image-pixels: 256 x the model's input pixels (16 x its side: finer detail is averaged away by the
# resize to the input), at least a 4096 x 4096 photo (a 12 MP phone photo, 4032 x 3024, or a 4K frame fits).
INPUT_PIXELS_MULTIPLE = 256
PHOTO_PIXELS = 4096 * 4096
MAX_IMAGES_PER_REQUEST = 64
MAX_QUEUED_IMAGES = 128  # four model calls at the default --max-batch-size
LIMIT_CONCURRENCY = 64
# Memory: a request in progress holds its body up to 3 times (bytes read, their JSON text and values; later JSON
# values, decoded images and the model's copy of them); TensorFlow decodes a progressive JPEG or BMP with about 6
# bytes per pixel (measured: 3 for PNG, baseline JPEG, GIF and WEBP), the batch's images decoded at once.
BODY_COPIES = 3
DECODE_BYTES_PER_PIXEL = 6


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """One server's settings; each is a `fairvision serve` flag (which holds the defaults), named in its error."""

    name: str
    version: int
    max_batch_size: int  # images per model call
    batch_timeout_ms: float  # how long a call waits for more images; 0: start as soon as the model is free
    max_body_bytes: int  # a larger request body is answered 413
    max_image_pixels: int | None  # a larger image (read from its header) is answered 400; None: default_max_pixels
    max_images_per_request: int = MAX_IMAGES_PER_REQUEST  # a request with more is answered 413
    max_queued_images: int = MAX_QUEUED_IMAGES  # images waiting for the model; a request passing it is answered 503
    limit_concurrency: int = LIMIT_CONCURRENCY  # uvicorn's: connections or requests in progress before it answers 503
    intra_op_threads: int | None = None  # TensorFlow's threads inside one operation; None: TensorFlow's choice
    inter_op_threads: int | None = None  # TensorFlow's threads for independent operations; None: its choice

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/:?#% "):
            raise FairvisionError(f"--name must be a non-empty URL path segment without / : ? # % or spaces; "
                                  f"got {self.name!r}")
        for flag, value, low, high in (("version", self.version, 1, None),
                                       ("max-batch-size", self.max_batch_size, 1, None),
                                       ("batch-timeout-ms", self.batch_timeout_ms, 0, 10_000),
                                       ("max-body-bytes", self.max_body_bytes, 1024, None),
                                       ("max-image-pixels", self.max_image_pixels, 1, MAX_IMAGE_PIXELS_CEILING),
                                       ("max-images-per-request", self.max_images_per_request, 1, None),
                                       ("max-queued-images", self.max_queued_images, 1, None),
                                       ("limit-concurrency", self.limit_concurrency, 2, None),
                                       ("intra-op-threads", self.intra_op_threads, 1, None),
                                       ("inter-op-threads", self.inter_op_threads, 1, None)):
            if value is None:
                continue
            if value < low or (high is not None and value > high):
                bounds = f"in [{low}, {high:,}]" if high is not None else f"at least {low}"
                raise FairvisionError(f"--{flag} must be {bounds}; got {value}")
        if self.max_queued_images < self.max_images_per_request:
            raise FairvisionError(f"--max-queued-images must be at least --max-images-per-request "
                                  f"({self.max_images_per_request}): a request's images are queued whole; "
                                  f"got {self.max_queued_images}")

    def image_pixels(self, input_size: int) -> int:
        """--max-image-pixels in force for a model whose input is ``input_size`` pixels square."""
        return self.max_image_pixels if self.max_image_pixels is not None else default_max_pixels(input_size)

    def for_model(self, input_size: int) -> ServeOptions:
        """These options with --max-image-pixels resolved for a model whose input is ``input_size`` pixels square."""
        return dataclasses.replace(self, max_image_pixels=self.image_pixels(input_size))

    def batch_pixels(self, input_size: int) -> int:
        """Most pixels one model call decodes: a largest image alone, or a full batch of input-sized ones."""
        return max(self.image_pixels(input_size), self.max_batch_size * input_size ** 2)

    def memory_bound(self, input_size: int) -> int:
        """Bytes this server may take beyond the loaded model: bodies of the requests in progress, one model call's
        decoded pixels."""
        return (self.limit_concurrency * BODY_COPIES * self.max_body_bytes
                + DECODE_BYTES_PER_PIXEL * self.batch_pixels(input_size))


def default_max_pixels(input_size: int) -> int:
    """Default --max-image-pixels for a model whose input is ``input_size`` pixels square (see PHOTO_PIXELS)."""
    return min(MAX_IMAGE_PIXELS_CEILING, max(PHOTO_PIXELS, INPUT_PIXELS_MULTIPLE * input_size ** 2))


def require_model_folder(path: str | Path) -> Path:
    """``path`` if it holds a SavedModel, else an error saying what to pass (checked before TensorFlow loads)."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        seeds = sorted(p.name for p in path.glob("seed-*") if (p / "saved_model.pb").is_file()) if path.is_dir() else []
        which = (f"it holds one model per training seed: pass one of them, e.g. {path / seeds[0]}" if seeds else
                 "pass one that `fairvision train` wrote, e.g. models/synthetic/small_cnn/seed-0")
        raise FairvisionError(f"{path}: not a model folder (no saved_model.pb); {which}")
    return path


def newest_version(path: str | Path) -> tuple[Path, int] | None:
    """TF Serving's choice in a base folder of numbered versions (``publish-model``'s layout): the highest
    numbered sub-folder holding a SavedModel, and its number; None when ``path`` is no such base."""
    path = Path(path)
    if (path / "saved_model.pb").is_file() or not path.is_dir():
        return None
    versions = [int(p.name) for p in path.iterdir() if p.name.isascii() and p.name.isdigit()
                and (p / "saved_model.pb").is_file()]
    return (path / str(max(versions)), max(versions)) if versions else None


def default_name(path: str | Path) -> str:
    """The model's name in the URLs: its backbone's folder (``models/<D>/<B>/seed-<S>`` or a published
    ``.../<B>/<version>`` -> ``<B>``), else its own."""
    path = Path(path).resolve()
    return path.parent.name if re.fullmatch(r"seed-\d+|\d+", path.name) else path.name
