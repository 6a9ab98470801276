"""What a running server is told: the name and version it serves, and its limits, validated before anything loads."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fairvision.errors import FairvisionError
from fairvision.params import MAX_IMAGE_PIXELS_CEILING


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """One server's settings; each is a `fairvision serve` flag (which holds the defaults), named in its error."""

    name: str
    version: int
    max_batch_size: int  # images per model call
    batch_timeout_ms: float  # how long a call waits for more images; 0: start as soon as the model is free
    max_body_bytes: int  # a larger request body is answered 413
    max_image_pixels: int  # a larger image (read from its header) is answered 400
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
                                       ("intra-op-threads", self.intra_op_threads, 1, None),
                                       ("inter-op-threads", self.inter_op_threads, 1, None)):
            if value is None:
                continue
            if value < low or (high is not None and value > high):
                bounds = f"in [{low}, {high:,}]" if high is not None else f"at least {low}"
                raise FairvisionError(f"--{flag} must be {bounds}; got {value}")


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
