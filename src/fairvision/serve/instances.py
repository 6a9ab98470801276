"""One image of a request: base64 text -> checked encoded bytes and the pixels decoding will take.

The model decodes images inside its signature, so one undecodable image in a batched call
would fail every request in the batch. Each image is checked here first with prepare's own
header checks (format, pixel count read before any pixel is decoded: no decompression bomb),
and the error names the instance. A GIF counts every frame: TensorFlow decodes them all even
though the model sees only the first. The pixel count travels with the bytes, so the batcher
can keep a model call's decoded pixels (its memory) within a budget.
"""

from __future__ import annotations

import base64
import dataclasses
import io

from PIL import Image

from fairvision.data.images import DECODE_ERRORS, header_problem
from fairvision.serve.body import RequestError

SERVED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")  # what tf.io.decode_image reads, as Pillow names them
LIMIT_NAME = "this server's limit (fairvision serve --max-image-pixels)"


@dataclasses.dataclass(frozen=True, eq=False)
class CheckedImage:
    """An image that passed the header checks: its encoded bytes and the pixels TensorFlow will decode."""

    data: bytes
    pixels: int  # width x height x frames


def image_bytes(encoded: object, where: str, *, max_pixels: int) -> CheckedImage:
    """The image that ``encoded`` (base64 text) holds; a 400 naming ``where`` if it is not a servable image."""
    if not isinstance(encoded, str):
        raise RequestError(f"{where} must be a base64 string of an encoded image; got {type(encoded).__name__}")
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError as error:
        raise RequestError(f"{where} is not valid base64 ({error})") from None
    problem = header_problem(data, max_pixels, formats=SERVED_FORMATS, limit_name=LIMIT_NAME)
    if problem:
        raise RequestError(f"{where}: {problem}")
    return CheckedImage(data, _decoded_pixels(data, where, max_pixels))


def _decoded_pixels(data: bytes, where: str, max_pixels: int) -> int:
    """Pixels TensorFlow decodes for ``data`` (which passed ``header_problem``): every frame of a GIF."""
    with Image.open(io.BytesIO(data), formats=SERVED_FORMATS) as image:
        width, height = image.size
        if image.format != "GIF":
            return width * height
        try:
            frames = image.n_frames  # reads each frame's header, decodes no pixel
        except DECODE_ERRORS as error:
            raise RequestError(f"{where}: cannot read the GIF's frames ({error})") from None
    if width * height * frames > max_pixels:
        raise RequestError(f"{where}: image is a GIF of {frames} frames of {width}x{height} = "
                           f"{width * height * frames:,} pixels decoded, above {LIMIT_NAME} ({max_pixels:,})")
    return width * height * frames
