"""Reading a request body: JSON only, size-limited, and every problem a 4xx naming what was wrong."""

from __future__ import annotations

import concurrent.futures
import json
from typing import Any, Mapping

from starlette.requests import Request

from fairvision.serve.offload import INLINE_BYTES, off_loop

JSON_HINT = "send Content-Type: application/json (curl: -H 'Content-Type: application/json')"


class RequestError(Exception):
    """A client's mistake (or, 503, a busy server), answered with ``status``, ``{"error": message}`` and
    ``headers``; other 5xx are kept for bugs."""

    def __init__(self, message: str, status: int = 400, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.headers = message, status, headers


async def json_body(request: Request, max_bytes: int, pool: concurrent.futures.Executor) -> Any:
    """The parsed JSON body (a large one parsed in ``pool``); 415 for another content type, 413 past ``max_bytes``
    (read no further), 400 if malformed."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise RequestError(f"unsupported content type {media_type or '(none)'}: {JSON_HINT}", 415)
    too_large = RequestError(f"the body is larger than this server's limit of {max_bytes:,} bytes "
                             f"(fairvision serve --max-body-bytes); send fewer or smaller images per request", 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return await off_loop(pool, lambda: _parsed(body), inline=len(body) <= INLINE_BYTES)


def _parsed(body: bytearray) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # RecursionError: nesting deeper than Python's stack
        raise RequestError(f"the body is not valid JSON ({error})") from None


def describe(value: Any) -> str:
    """A JSON value's kind, for errors that say what was received."""
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)}" if value else "an empty object"
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def object_with(value: Any, where: str, allowed: set[str], required: set[str], example: str) -> dict:
    """``value`` as an object whose keys are all ``allowed`` and include ``required``; else a 400 naming the key."""
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be a JSON object such as {example}; got {describe(value)}")
    unknown, missing = sorted(set(value) - allowed), sorted(required - set(value))
    if unknown:
        raise RequestError(f"{where} has unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    if missing:
        raise RequestError(f"{where} lacks required field(s) {missing}; for example {example}")
    return value
