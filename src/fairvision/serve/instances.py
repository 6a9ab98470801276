"""One image of a request: base64 text -> checked encoded bytes, before it may join a batch.

The model decodes images inside its signature, so one undecodable image in a batched call
would fail every request in the batch. Each image is checked here first with prepare's own
header checks (format, pixel count read before any pixel is decoded: no decompression bomb),
and the error names the instance.
"""

from __future__ import annotations

import base64

from fairvision.data.images import header_problem
from fairvision.serve.body import RequestError

SERVED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")  # what tf.io.decode_image reads, as Pillow names them


def image_bytes(encoded: object, where: str, *, max_pixels: int) -> bytes:
    """The image that ``encoded`` (base64 text) holds; a 400 naming ``where`` if it is not a servable image."""
    if not isinstance(encoded, str):
        raise RequestError(f"{where} must be a base64 string of an encoded image; got {type(encoded).__name__}")
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError as error:
        raise RequestError(f"{where} is not valid base64 ({error})") from None
    problem = header_problem(data, max_pixels, formats=SERVED_FORMATS,
                             limit_name="this server's limit (fairvision serve --max-image-pixels)")
    if problem:
        raise RequestError(f"{where}: {problem}")
    return data
