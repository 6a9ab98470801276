"""Prometheus metrics of one server, in a registry of its own (no global state, so apps never share counts)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Requests by route and status code, their latency, errors, and the size and duration of model calls."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("fairvision_requests", "HTTP requests answered, by method, route and status code",
                                ["method", "route", "code"], registry=self.registry)
        self.latency = Histogram("fairvision_request_duration_seconds", "Time to answer an HTTP request, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("fairvision_request_errors", "Requests answered 4xx (client) or 5xx (server), by route",
                              ["route", "kind"], registry=self.registry)
        self.batch_size = Histogram("fairvision_batch_size", "Images per model call (micro-batching)",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.model_latency = Histogram("fairvision_model_call_duration_seconds", "Time of one model call",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.model_latency.observe(seconds)

    def observe_request(self, method: str, route: str, code: int, seconds: float) -> None:
        self.requests.labels(method, route, str(code)).inc()
        self.latency.labels(route).observe(seconds)
        if code >= 400:
            self.errors.labels(route, "client" if code < 500 else "server").inc()

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics: the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware timing every HTTP request; the route label is the matched path template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, code = time.perf_counter(), 500

        async def send_and_note(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(scope["method"], getattr(route, "path", "unmatched"), code,
                                         time.perf_counter() - start)
