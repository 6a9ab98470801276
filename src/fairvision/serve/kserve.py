"""KServe's V2 inference protocol (the Open Inference Protocol), REST/JSON.

Health, server and model metadata, readiness, and `infer` with one BYTES input whose data
are base64-encoded images (KServe's convention for images in V2 JSON). KServe's own Python
client (``InferRequest.to_rest()``) also names the model in the body (``model_name``), which
must then be the URL's.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairvision import __version__
from fairvision.serve.body import RequestError, describe, object_with
from fairvision.serve.model import PLATFORM, TensorInfo
from fairvision.serve.service import Service
from fairvision.serve.tensors import flat_values

DATATYPES = {"DT_FLOAT": "FP32", "DT_STRING": "BYTES"}  # the dtypes of a fairvision signature
PREFIXES = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")


def routes(service: Service) -> list[Route]:
    """The V2 endpoints of ``service``."""
    model = service.model
    example = ('{"inputs": [{"name": "' + model.input.name + '", "shape": [1], "datatype": "BYTES", '
               '"data": ["<base64-encoded image>"]}]}')

    def checked(request: Request) -> None:
        service.check_model(request.path_params["name"], request.path_params.get("version"))

    async def server_metadata(request: Request) -> JSONResponse:
        return JSONResponse({"name": "fairvision", "version": __version__, "extensions": []})

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": True})  # the model is loaded and warmed up before the server listens

    async def model_metadata(request: Request) -> JSONResponse:
        checked(request)
        return JSONResponse({"name": service.options.name, "versions": [service.version], "platform": PLATFORM,
                             "inputs": [_metadata(model.input)], "outputs": [_metadata(o) for o in model.outputs]})

    async def model_ready(request: Request) -> JSONResponse:
        checked(request)
        return JSONResponse({"name": service.options.name, "ready": True})

    async def infer(request: Request) -> JSONResponse:
        checked(request)
        body = object_with(await service.body(request), "the body",
                           {"id", "model_name", "parameters", "inputs", "outputs"}, {"inputs"}, example)
        url_name = request.path_params["name"]
        if "model_name" in body and body["model_name"] != url_name:  # KServe's client names the model in both
            raise RequestError(f"the body's model_name {body['model_name']!r} does not match the model in the URL, "
                               f"{url_name!r} ({request.url.path})")
        if "id" in body and not isinstance(body["id"], str):
            raise RequestError(f"id must be a string; got {describe(body['id'])}")
        if not isinstance(body.get("parameters", {}), dict):
            raise RequestError(f"parameters must be an object; got {describe(body['parameters'])}")
        wanted = _requested_outputs(body.get("outputs"), [o.name for o in model.outputs])
        data = _image_data(body["inputs"], model.input.name, example)
        service.check_count(len(data), "inputs[0].data")
        images = await service.images([(value, f"inputs[0].data[{i}]") for i, value in enumerate(data)])
        outputs = await service.classify(images, "inputs[0].data")
        return JSONResponse({
            "model_name": service.options.name, "model_version": service.version,
            "id": body.get("id", str(uuid.uuid4())),
            "outputs": [{"name": info.name, "datatype": DATATYPES[info.dtype], "shape": list(outputs[info.name].shape),
                         "data": flat_values(outputs[info.name])}
                        for info in model.outputs if info.name in wanted],
        })

    return [Route("/v2", server_metadata, methods=["GET"]),
            Route("/v2/health/live", live, methods=["GET"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
            *[route for prefix in PREFIXES for route in (
                Route(prefix, model_metadata, methods=["GET"]),
                Route(prefix + "/ready", model_ready, methods=["GET"]),
                Route(prefix + "/infer", infer, methods=["POST"]),
            )]]


def _metadata(info: TensorInfo) -> dict[str, Any]:
    return {"name": info.name, "datatype": DATATYPES[info.dtype], "shape": list(info.shape)}


def _image_data(inputs: Any, input_name: str, example: str) -> list:
    """The `data` of the one BYTES input, checked against its name, datatype and shape."""
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise RequestError(f"inputs must be a list of one tensor, {input_name!r}; got "
                           f"{describe(inputs) if not isinstance(inputs, list) else f'{len(inputs)} tensors'}")
    tensor = object_with(inputs[0], "inputs[0]", {"name", "shape", "datatype", "parameters", "data"},
                         {"name", "shape", "datatype", "data"}, example)
    if tensor["name"] != input_name:
        raise RequestError(f"inputs[0].name: {tensor['name']!r} is not an input of this model; "
                           f"its only input is {input_name!r}")
    if tensor["datatype"] != "BYTES":
        raise RequestError(f"inputs[0].datatype must be BYTES (base64-encoded images); got {tensor['datatype']!r}")
    shape, data = tensor["shape"], tensor["data"]
    if not (isinstance(shape, list) and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0):
        raise RequestError(f"inputs[0].shape must be [N], N the number of images; got {shape!r}")
    if not isinstance(data, list):
        raise RequestError(f"inputs[0].data must be a list of base64 strings; got {describe(data)}")
    if len(data) != math.prod(shape):
        raise RequestError(f"inputs[0].shape {shape} does not match its data ({len(data)} values)")
    return data


def _requested_outputs(outputs: Any, names: list[str]) -> set[str]:
    """The output names a request asks for; all of them when it names none."""
    if outputs is None:
        return set(names)
    if not isinstance(outputs, list):
        raise RequestError(f"outputs must be a list such as [{{\"name\": \"{names[0]}\"}}]; got {describe(outputs)}")
    wanted = set()
    for index, output in enumerate(outputs):
        name = object_with(output, f"outputs[{index}]", {"name", "parameters"}, {"name"},
                           f'{{"name": "{names[0]}"}}')["name"]
        if name not in names:
            raise RequestError(f"outputs[{index}].name: {name!r} is not an output of this model; it has {names}")
        wanted.add(name)
    return wanted or set(names)
