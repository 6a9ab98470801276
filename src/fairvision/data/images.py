"""Image validation for `prepare`: what is accepted, what is converted, and the bytes that get stored;
`serve` runs the same header checks on every image it receives.

JPEG and PNG (8-bit RGB or greyscale) are stored byte for byte. BMP, GIF (first frame), TIFF
and WEBP, and JPEG/PNG in other modes (RGBA, LA, palette, CMYK, 16-bit), are re-encoded once
to 8-bit RGB PNG, so training and serving only ever decode JPEG or PNG; a localization box is
cropped and stored as PNG. Anything else is rejected with a reason, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import warnings
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from fairvision.data.source import Box

ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")  # Pillow format names
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
NOT_AN_IMAGE = f"not an image file (suffixes: {', '.join(IMAGE_SUFFIXES)})"
TF_DECODABLE = {"JPEG", "PNG"}
KEPT_MODES = {"RGB", "L"}
# Pillow's exceptions for corrupt files besides OSError/ValueError (e.g. "broken PNG file" is
# a SyntaxError); one bad image must become a rejection, not a traceback.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError, ZeroDivisionError)


def stored_image(data: bytes, max_pixels: int | None, box: Box | None = None) -> tuple[str | None, bytes | None]:
    """(reason, None) for an unusable image, else (None, the bytes to store: decodable by TensorFlow).

    The pixel count is read from the header and checked before any pixel is decoded, so a
    crafted tiny file that claims to be huge is rejected instead of exhausting memory. The
    limit (params.py keeps it at or below Pillow's ``MAX_IMAGE_PIXELS``) catches every image
    that Pillow would only warn about; Pillow's own DecompressionBombError (twice that) is a
    rejection too. No warning filter is touched here (that would not be thread-safe); callers
    silence Pillow's warning with :func:`quiet_bomb_warnings`. ``max_pixels=None`` skips the
    limit (for an image already accepted once).
    """

    def stored(image: Image.Image) -> bytes:
        image.load()
        if box is not None:
            return _to_png(image.crop(pixel_box(box, *image.size)))
        return data if _kept_as_is(image, data) else _to_png(image)

    return _checked(data, max_pixels, ACCEPTED_FORMATS, "prepare.max_image_pixels", stored)


def header_problem(data: bytes, max_pixels: int, *, formats: Sequence[str], limit_name: str) -> str | None:
    """Why ``data`` is not an image in one of ``formats`` of at most ``max_pixels``, or None.

    Only the header is read (no pixel is decoded), with the same checks and reasons as
    :func:`stored_image`: cheap enough to run on every image a server receives. ``limit_name``
    is how the user sets ``max_pixels``, for the reason.
    """
    return _checked(data, max_pixels, formats, limit_name, lambda image: None)[0]


def _checked(data: bytes, max_pixels: int | None, formats: Sequence[str], limit_name: str,
             use: Callable[[Image.Image], bytes | None]) -> tuple[str | None, bytes | None]:
    """Open ``data`` as one of ``formats``, check its pixel count from the header, then ``use`` it."""
    if not data:
        return "image file is empty", None
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                return (
                    f"image is {width}x{height} = {width * height:,} pixels, "
                    f"above {limit_name} ({max_pixels:,})"
                ), None
            return None, use(image)
    except Image.DecompressionBombError as error:
        return f"image too large to decode safely ({error})", None
    except UnidentifiedImageError:
        return f"cannot decode image: not a {', '.join(formats)} file", None
    except DECODE_ERRORS as error:
        return f"cannot decode image ({error})", None


@contextlib.contextmanager
def quiet_bomb_warnings() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning for a whole pass (set once, before any thread starts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised box in whole pixels, at least one pixel each way and inside the image."""
    left, top = min(int(box[0] * width), width - 1), min(int(box[1] * height), height - 1)
    return left, top, max(left + 1, math.ceil(box[2] * width)), max(top + 1, math.ceil(box[3] * height))


def _kept_as_is(image: Image.Image, data: bytes) -> bool:
    """JPEG or 8-bit PNG in RGB or grey: TensorFlow decodes these exactly as found.

    A 16-bit PNG opens in Pillow as RGB or I;16 but TensorFlow would decode it to uint16,
    so it is re-encoded (the PNG header's bit depth is byte 24).
    """
    if image.format not in TF_DECODABLE or image.mode not in KEPT_MODES:
        return False
    return image.format != "PNG" or data[24:25] != b"\x10"


def _to_png(image: Image.Image) -> bytes:
    """Re-encode as 8-bit RGB PNG; 16-bit grey is scaled (Pillow's convert would clip it to white)."""
    if image.mode.startswith("I;16"):
        image = Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
