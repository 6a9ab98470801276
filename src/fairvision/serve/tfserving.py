"""TensorFlow Serving's REST API (v1): model status, metadata and `:predict`, shaped as TF Serving shapes them.

Every resource is reachable as /v1/models/<name>, /v1/models/<name>/versions/<v> and
/v1/models/<name>/labels/<label> (no version labels are defined here, so the last form
answers 404 naming the served version).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairvision.models.export import SIGNATURE
from fairvision.serve.body import RequestError, describe, object_with
from fairvision.serve.service import Service
from fairvision.serve.tensors import nested_values

PREFIXES = ("/v1/models/{name}", "/v1/models/{name}/versions/{version}", "/v1/models/{name}/labels/{label}")
B64 = '{"b64": "<base64-encoded image>"}'


def routes(service: Service) -> list[Route]:
    """The v1 endpoints of ``service``."""

    def served_version(request: Request) -> str:
        params = request.path_params
        if "label" in params:
            raise RequestError(f"version label {params['label']!r} is not defined: this server defines no labels; "
                               f"use /v1/models/{service.options.name}/versions/{service.version}", 404)
        service.check_model(params["name"], params.get("version"))
        return service.version

    async def status(request: Request) -> JSONResponse:
        return JSONResponse({"model_version_status": [{
            "version": served_version(request), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }]})

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse({
            "model_spec": {"name": service.options.name, "signature_name": "", "version": served_version(request)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: service.model.signature_def}}},
        })

    async def predict(request: Request) -> JSONResponse:
        served_version(request)
        body = object_with(await service.body(request), "the body",
                           {"signature_name", "instances", "inputs"}, set(), '{"instances": [' + B64 + "]}")
        signature = body.get("signature_name", SIGNATURE) or SIGNATURE  # TF Serving reads "" as the default
        if signature != SIGNATURE:
            raise RequestError(f"signature_name {signature!r} is not served; the only signature is {SIGNATURE!r}")
        if ("instances" in body) == ("inputs" in body):
            raise RequestError('send exactly one of "instances" (row format: {"instances": [' + B64 + ', ...]}) '
                               'and "inputs" (columnar format: {"inputs": [' + B64 + ", ...]})")
        input_name = service.model.input.name
        if "instances" in body:
            instances = _listed(body["instances"], "instances")
            service.check_count(len(instances), "instances")
            images = await service.images([_b64(value, f"instances[{i}]", input_name)
                                           for i, value in enumerate(instances)])
            outputs = await service.classify(images, "instances")
            values = {name: nested_values(array) for name, array in outputs.items()}
            return JSONResponse({"predictions": [{name: rows[i] for name, rows in values.items()}
                                                 for i in range(len(images))]})
        columns = body["inputs"]
        where = "inputs"
        if isinstance(columns, dict) and "b64" not in columns:
            object_with(columns, "inputs", {input_name}, {input_name}, '{"' + input_name + '": [' + B64 + "]}")
            columns, where = columns[input_name], f"inputs.{input_name}"
        column = _listed(columns, where)
        service.check_count(len(column), where)
        images = await service.images([_b64(value, f"{where}[{i}]") for i, value in enumerate(column)])
        outputs = await service.classify(images, where)
        return JSONResponse({"outputs": {name: nested_values(array) for name, array in outputs.items()}})

    return [route for prefix in PREFIXES for route in (
        Route(prefix, status, methods=["GET"]),
        Route(prefix + "/metadata", metadata, methods=["GET"]),
        Route(prefix + ":predict", predict, methods=["POST"]),
    )]


def _listed(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise RequestError(f"{where} must be a list of images such as [{B64}]; got {describe(value)}")
    if not value:
        raise RequestError(f"{where} is empty: send at least one image")
    return value


def _b64(value: Any, where: str, input_name: str | None = None) -> tuple[Any, str]:
    """(the base64 text, where it was) of ``{"b64": ...}``, or of ``{input_name: {"b64": ...}}`` in a row."""
    if input_name is not None and isinstance(value, dict) and "b64" not in value:
        object_with(value, where, {input_name}, {input_name}, '{"' + input_name + '": ' + B64 + "}")
        value, where = value[input_name], f"{where}.{input_name}"
    if not isinstance(value, dict) or set(value) != {"b64"}:
        raise RequestError(f"{where} must be {B64} (binary input is base64-encoded under the key b64); "
                           f"got {describe(value)}")
    return value["b64"], f"{where}.b64"
