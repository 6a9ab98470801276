"""The ASGI application: both protocols' routes, /metrics, JSON errors, and the batcher's lifetime."""

from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairvision.serve import kserve, offload, tfserving
from fairvision.serve.batcher import MicroBatcher
from fairvision.serve.body import RequestError
from fairvision.serve.metrics import Metrics, RequestMetrics
from fairvision.serve.model import ServedModel
from fairvision.serve.options import ServeOptions
from fairvision.serve.service import Service

log = logging.getLogger(__name__)
ENDPOINTS = ("/v1/models/<name>[/versions/<v>][/metadata | :predict], "
             "/v2/health/{live,ready}, /v2/models/<name>[/versions/<v>][/ready | /infer], /metrics")


def create_app(model: ServedModel, options: ServeOptions) -> Starlette:
    """An app serving ``model`` as ``options.name``; its batcher and parsing threads live while its lifespan does."""
    metrics = Metrics()
    options = options.for_model(model.input_size)
    batcher = MicroBatcher(model.predict, max_batch_size=options.max_batch_size,
                           max_batch_pixels=options.batch_pixels(model.input_size),
                           max_queued_images=options.max_queued_images, inline_pixels=model.input_size ** 2,
                           timeout_s=options.batch_timeout_ms / 1000, observe=metrics.observe_batch)
    pool = offload.executor()
    service = Service(model, options, batcher, pool)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            pool.shutdown(wait=False, cancel_futures=True)

    return Starlette(
        routes=[*tfserving.routes(service), *kserve.routes(service), Route("/metrics", metrics.endpoint)],
        middleware=[Middleware(RequestMetrics, metrics=metrics)],
        exception_handlers={RequestError: _client_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )


async def _client_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's routing errors (no such path, wrong method) in the protocols' {"error": ...} form."""
    assert isinstance(error, HTTPException)
    what = {404: "no such endpoint", 405: "method not allowed"}.get(error.status_code, error.detail)
    return JSONResponse({"error": f"{what}: {request.method} {request.url.path}; this server answers {ENDPOINTS}"},
                        status_code=error.status_code, headers=error.headers)


async def _server_error(request: Request, error: Exception) -> JSONResponse:
    """A bug: logged with its traceback by the server; the client learns only that it was not its fault."""
    log.error("%s %s failed: %r", request.method, request.url.path, error)
    return JSONResponse({"error": f"internal server error ({type(error).__name__}); see the server's log"},
                        status_code=500)
