"""`fairvision serve` over real HTTP: TensorFlow Serving's REST API and KServe's V2 protocol as clients meet them.

Responses are compared with a direct call of the exported signature in this process; every
kind of bad input must be a 4xx naming what was wrong, never a 5xx, and leave the server healthy.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from conftest import SERVE_IMAGE_SIZE, SERVE_LABELS, encode_array, encode_image, png_header_only
from serving import MODEL_NAME

JSON = {"Content-Type": "application/json"}
V1 = f"/v1/models/{MODEL_NAME}"
V2 = f"/v2/models/{MODEL_NAME}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    """One image per format the server accepts (JPEG, PNG, GIF, BMP, WEBP), sizes differing from the model's."""
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (20 + 4 * i, 24, 3), dtype=np.uint8) for i in range(5)]
    return [encode_array(p, f) for p, f in zip(pixels, ("JPEG", "PNG", "GIF", "BMP", "WEBP"), strict=True)]


@pytest.fixture(scope="module")
def direct(serve_model_dir):
    """The exported signature called directly: what the server must answer."""
    import tensorflow as tf

    from fairvision.models.export import load_classifier

    classify = load_classifier(serve_model_dir)
    return lambda data: classify(image_bytes=tf.constant(data))["probabilities"].numpy()


def post(served, path: str, body, **kwargs) -> requests.Response:
    return requests.post(served.url + path, json=body, timeout=30, **kwargs)


# --- TensorFlow Serving REST ---------------------------------------------------------------------------------

def test_v1_model_status_for_the_served_version_only(served) -> None:
    available = {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    for path in (V1, f"{V1}/versions/1"):
        response = requests.get(served.url + path, timeout=10)
        assert (response.status_code, response.json()) == (200, available)
    for path, named in ((f"{V1}/versions/2", "no version '2'"), ("/v1/models/other", "'other' is not served"),
                        (f"{V1}/labels/stable", "label 'stable' is not defined")):
        response = requests.get(served.url + path, timeout=10)
        assert response.status_code == 404 and named in response.json()["error"]


def test_v1_metadata_describes_the_serving_signature(served) -> None:
    response = requests.get(f"{served.url}{V1}/versions/1/metadata", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": "1"}
    assert list(body["metadata"]["signature_def"]["signature_def"]) == ["serving_default"]
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    image_input = signature["inputs"]["image_bytes"]
    assert image_input["dtype"] == "DT_STRING"
    assert image_input["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    classes = str(len(SERVE_LABELS))
    for name, dtype in (("probabilities", "DT_FLOAT"), ("classes", "DT_STRING")):
        assert signature["outputs"][name]["dtype"] == dtype
        assert [d["size"] for d in signature["outputs"][name]["tensor_shape"]["dim"]] == ["-1", classes]


def test_v1_predict_row_format_answers_as_the_signature(served, images, direct) -> None:
    rows = [{"b64": b64(images[0])}, *({"image_bytes": {"b64": b64(image)}} for image in images[1:])]
    response = post(served, f"{V1}:predict", {"signature_name": "serving_default", "instances": rows})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [sorted(p) for p in predictions] == [["classes", "probabilities"]] * len(images)
    assert all(p["classes"] == SERVE_LABELS for p in predictions)
    served_probabilities = np.array([p["probabilities"] for p in predictions], dtype=np.float32)
    np.testing.assert_allclose(served_probabilities, direct(images), rtol=1e-5, atol=1e-6)


def test_v1_predict_columnar_format_both_spellings(served, images, direct) -> None:
    column = [{"b64": b64(image)} for image in images[:3]]
    for path, body in ((f"{V1}:predict", {"inputs": column}),
                       (f"{V1}/versions/1:predict", {"inputs": {"image_bytes": column}})):
        response = post(served, path, body)
        assert response.status_code == 200, response.text
        outputs = response.json()["outputs"]
        assert outputs["classes"] == [SERVE_LABELS] * 3
        np.testing.assert_allclose(np.array(outputs["probabilities"], dtype=np.float32), direct(images[:3]),
                                   rtol=1e-5, atol=1e-6)


# --- KServe V2 -----------------------------------------------------------------------------------------------

def test_v2_health_and_model_metadata(served) -> None:
    def get(path: str) -> requests.Response:
        return requests.get(served.url + path, timeout=10)

    assert get("/v2/health/live").json() == {"live": True}
    assert get("/v2/health/ready").json() == {"ready": True}
    assert get("/v2").json()["name"] == "fairvision"
    assert get(f"{V2}/ready").json() == {"name": MODEL_NAME, "ready": True}
    classes = len(SERVE_LABELS)
    expected = {"name": MODEL_NAME, "versions": ["1"], "platform": "tensorflow_savedmodel",
                "inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [-1]}],
                "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, classes]},
                            {"name": "classes", "datatype": "BYTES", "shape": [-1, classes]}]}
    assert get(V2).json() == expected and get(f"{V2}/versions/1").json() == expected
    for path in ("/v2/models/other", "/v2/models/other/ready", f"{V2}/versions/7"):
        assert get(path).status_code == 404 and "error" in get(path).json()


def test_v2_infer_answers_as_the_signature(served, images, direct) -> None:
    request = {"id": "req-1", "inputs": [{"name": "image_bytes", "shape": [len(images)], "datatype": "BYTES",
                                          "data": [b64(image) for image in images]}]}
    response = post(served, f"{V2}/infer", request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == (MODEL_NAME, "1", "req-1")
    probabilities, classes = body["outputs"]
    n, c = len(images), len(SERVE_LABELS)
    assert (probabilities["name"], probabilities["datatype"], probabilities["shape"]) == (
        "probabilities", "FP32", [n, c])
    assert (classes["name"], classes["datatype"], classes["shape"]) == ("classes", "BYTES", [n, c])
    assert classes["data"] == SERVE_LABELS * n
    np.testing.assert_allclose(np.array(probabilities["data"], dtype=np.float32).reshape(n, c), direct(images),
                               rtol=1e-5, atol=1e-6)

    only_classes = post(served, f"{V2}/versions/1/infer", {**request, "outputs": [{"name": "classes"}]}).json()
    assert [output["name"] for output in only_classes["outputs"]] == ["classes"]


# KServe 0.21.0's Python client, as a scratch venv (python3.11 -m venv; pip install kserve==0.21.0: it needs
# pandas<3, so it cannot join this project's environment) made it from conftest's encode_image((200, 120, 40), "PNG",
# size=16), written to /tmp/kserve-image.png:
#     image = base64.b64encode(open("/tmp/kserve-image.png", "rb").read()).decode("ascii")
#     infer_input = InferInput(name="image_bytes", shape=[1], datatype="BYTES", data=[image])
#     request = InferRequest(model_name="small_cnn", infer_inputs=[infer_input], request_id="kserve-0.21.0")
#     body, json_length = request.to_rest()  # json_length None: JSON, not the binary extension
#     open("kserve-0.21.0-infer-request.json", "wb").write(orjson.dumps(body))
# orjson.dumps(body) with Content-Type application/json is what InferenceRESTClient.infer posts to
# /v2/models/small_cnn/infer. to_rest() puts model_name in the body, which the V2 protocol itself does not.
KSERVE_REQUEST = Path(__file__).parent / "fixtures" / "kserve-0.21.0-infer-request.json"


def test_v2_infer_answers_kserves_own_python_client(served, direct) -> None:
    body = KSERVE_REQUEST.read_bytes()
    assert json.loads(body)["model_name"] == MODEL_NAME
    response = requests.post(f"{served.url}{V2}/infer", data=body, headers=JSON, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["id"], answer["model_name"]) == ("kserve-0.21.0", MODEL_NAME)
    image = encode_image((200, 120, 40), "PNG", size=16)
    assert json.loads(body)["inputs"][0]["data"] == [b64(image)]
    np.testing.assert_allclose(np.array(answer["outputs"][0]["data"], dtype=np.float32), direct([image])[0],
                               rtol=1e-5, atol=1e-6)


# --- Bad input: a 4xx with a clear error, never a 5xx -----------------------------------------------------------

GOOD = encode_image((200, 120, 40))
_NOISE = encode_array(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8), "JPEG")
TRUNCATED_JPEG = _NOISE[:len(_NOISE) // 2]  # a valid header (it passes the checks); the data stops half-way
PHOTO_PIXELS = 4096 * 4096  # the default --max-image-pixels for this 16-px model: the floor for photos


def animated_gif(frames: int, side: int) -> bytes:
    """A GIF of ``frames`` distinct flat frames (TensorFlow decodes all of them, keeping the first)."""
    images = [Image.new("P", (side, side), index) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def v1_rows(*images: bytes) -> dict:
    return {"instances": [{"b64": b64(image)} for image in images]}


def v2_tensor(**changes) -> dict:
    return {"inputs": [{"name": "image_bytes", "shape": [1], "datatype": "BYTES", "data": [b64(GOOD)]} | changes]}


BAD_JSON_BODIES = [  # (path, raw body, status, words the error must contain)
    (f"{V1}:predict", b'{"instances": [', 400, "not valid JSON"),
    (f"{V1}:predict", b"[" * 100_000 + b"]" * 100_000, 400, "not valid JSON"),
    (f"{V1}:predict", b'["instances"]', 400, "must be a JSON object"),
    (f"{V2}/infer", b"\xff\xfe{", 400, "not valid JSON"),
]
BAD_REQUESTS = [  # (path, JSON body, status, words the error must contain)
    (f"{V1}:predict", {"instance": [{"b64": b64(GOOD)}]}, 400, "unknown field(s) ['instance']"),
    (f"{V1}:predict", {}, 400, 'exactly one of "instances"'),
    (f"{V1}:predict", {**v1_rows(GOOD), "inputs": [{"b64": b64(GOOD)}]}, 400, 'exactly one of "instances"'),
    (f"{V1}:predict", {"instances": []}, 400, "instances is empty"),
    (f"{V1}:predict", {"instances": {"b64": b64(GOOD)}}, 400, "instances must be a list"),
    (f"{V1}:predict", {"instances": [b64(GOOD)]}, 400, 'instances[0] must be {"b64"'),
    (f"{V1}:predict", {"instances": [{"image": {"b64": b64(GOOD)}}]}, 400,
     "instances[0] has unknown field(s) ['image']"),
    (f"{V1}:predict", {"instances": [{"b64": b64(GOOD)}, {"b64": "not base64!"}]}, 400,
     "instances[1].b64 is not valid base64"),
    (f"{V1}:predict", {"instances": [{"b64": "ñ"}]}, 400, "instances[0].b64 is not valid base64"),
    (f"{V1}:predict", v1_rows(GOOD, b"just some text"), 400, "instances[1].b64: cannot decode image: not a JPEG"),
    (f"{V1}:predict", v1_rows(b""), 400, "instances[0].b64: image file is empty"),
    (f"{V1}:predict", v1_rows(encode_image((1, 2, 3), "TIFF")), 400, "not a JPEG, PNG, GIF, BMP, WEBP file"),
    (f"{V1}:predict", v1_rows(png_header_only(10_000, 10_000)), 400,
     "10000x10000 = 100,000,000 pixels, above this server's limit (fairvision serve --max-image-pixels)"),
    (f"{V1}:predict", v1_rows(png_header_only(30_000, 30_000)), 400, "too large to decode safely"),
    (f"{V1}:predict", v1_rows(png_header_only(4097, 4096)), 400,  # the default limit follows the model (not 40 MP)
     f"4097x4096 = 16,781,312 pixels, above this server's limit (fairvision serve --max-image-pixels) "
     f"({PHOTO_PIXELS:,})"),
    (f"{V2}/infer", v2_tensor(data=[b64(animated_gif(17, 1000))]), 400,
     f"inputs[0].data[0]: image is a GIF of 17 frames of 1000x1000 = 17,000,000 pixels decoded, above this "
     f"server's limit (fairvision serve --max-image-pixels) ({PHOTO_PIXELS:,})"),
    (f"{V1}:predict", v1_rows(*[GOOD] * 65), 413, "instances holds 65 images; this server takes at most 64 per "
     "request (fairvision serve --max-images-per-request): send them in several requests"),
    (f"{V1}:predict", {"inputs": {"image_bytes": [{"b64": "not base64!"}] * 65}}, 413,  # counted before decoding
     "inputs.image_bytes holds 65 images"),
    (f"{V2}/infer", v2_tensor(shape=[65], data=[b64(GOOD)] * 65), 413, "inputs[0].data holds 65 images"),
    (f"{V1}:predict", v1_rows(GOOD, GOOD, TRUNCATED_JPEG), 400, "instances[2]: TensorFlow cannot decode the image"),
    (f"{V1}:predict", {"inputs": {"pixels": [{"b64": b64(GOOD)}]}}, 400, "inputs has unknown field(s) ['pixels']"),
    (f"{V1}:predict", {"inputs": [{"b64": b64(GOOD)}, {"b64": "%%%"}]}, 400, "inputs[1].b64 is not valid base64"),
    (f"{V1}:predict", {**v1_rows(GOOD), "signature_name": "explain"}, 400,
     "'explain' is not served; the only signature is 'serving_default'"),
    ("/v1/models/other:predict", v1_rows(GOOD), 404, "'other' is not served here"),
    (f"{V1}/versions/3:predict", v1_rows(GOOD), 404, "no version '3'"),
    (f"{V2}/infer", {"input": []}, 400, "unknown field(s) ['input']"),
    (f"{V2}/infer", {"inputs": []}, 400, "inputs must be a list of one tensor"),
    (f"{V2}/infer", v2_tensor(name="pixels"), 400, "'pixels' is not an input of this model"),
    (f"{V2}/infer", v2_tensor(datatype="FP32"), 400, "datatype must be BYTES"),
    (f"{V2}/infer", v2_tensor(shape=[2]), 400, "does not match its data (1 values)"),
    (f"{V2}/infer", v2_tensor(shape=[0], data=[]), 400, "inputs[0].data is empty"),
    (f"{V2}/infer", v2_tensor(data=["???"]), 400, "inputs[0].data[0] is not valid base64"),
    (f"{V2}/infer", v2_tensor(data=[b64(b"GIF89a not really")]), 400, "inputs[0].data[0]: cannot decode image"),
    (f"{V2}/infer", v2_tensor(data=[b64(TRUNCATED_JPEG)]), 400, "inputs[0].data[0]: TensorFlow cannot decode"),
    (f"{V2}/infer", {**v2_tensor(), "outputs": [{"name": "logits"}]}, 400, "'logits' is not an output of this model"),
    (f"{V2}/infer", {**v2_tensor(), "model_name": "other"}, 400,
     f"the body's model_name 'other' does not match the model in the URL, '{MODEL_NAME}' ({V2}/infer)"),
    ("/v2/models/other/infer", v2_tensor(), 404, "'other' is not served here"),
]


def assert_client_error(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert words in response.json()["error"], response.json()


@pytest.mark.parametrize(("path", "body", "status", "words"), BAD_JSON_BODIES, ids=lambda v: str(v)[:40])
def test_malformed_bodies_are_400(served, path, body, status, words) -> None:
    assert_client_error(requests.post(served.url + path, data=body, headers=JSON, timeout=30), status, words)


@pytest.mark.parametrize(("path", "body", "status", "words"), BAD_REQUESTS, ids=[w for *_, w in BAD_REQUESTS])
def test_bad_requests_are_4xx_naming_the_problem(served, path, body, status, words) -> None:
    assert_client_error(post(served, path, body), status, words)


def test_a_bad_image_fails_only_its_own_request_in_a_shared_batch(served) -> None:
    """Sent together, a request holding a truncated JPEG and a good one share a model call; only the first fails."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = [v1_rows(TRUNCATED_JPEG) if i % 2 else v1_rows(GOOD) for i in range(8)]
        answers = list(pool.map(lambda body: post(served, f"{V1}:predict", body), bodies))
    assert [a.status_code for a in answers] == [200, 400] * 4


def test_wrong_content_type_is_415(served) -> None:
    body = b'{"instances": []}'
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}):
        response = requests.post(f"{served.url}{V1}:predict", data=body, headers=headers, timeout=10)
        assert_client_error(response, 415, "Content-Type: application/json")


def test_bodies_over_the_limit_are_413_declared_or_streamed(served) -> None:
    big = b'{"instances": [{"b64": "' + b"A" * (2**20 + 8) + b'"}]}'
    assert_client_error(requests.post(f"{served.url}{V1}:predict", data=big, headers=JSON, timeout=30), 413,
                        "larger than this server's limit of 1,048,576 bytes")
    chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no Content-Length: chunked transfer
    assert_client_error(requests.post(f"{served.url}{V2}/infer", data=chunks, headers=JSON, timeout=30), 413,
                        "--max-body-bytes")


def test_unknown_paths_and_methods_answer_json(served) -> None:
    assert_client_error(requests.get(f"{served.url}/v1/nothing", timeout=10), 404, "no such endpoint")
    assert_client_error(requests.post(f"{served.url}/v2/health/live", timeout=10), 405, "method not allowed")


def test_the_server_is_healthy_after_bad_input(served) -> None:
    assert requests.get(f"{served.url}/v2/health/ready", timeout=10).json() == {"ready": True}
    assert served.metric("fairvision_request_errors_total", route="/v1/models/{name}:predict", kind="server") == 0
    assert post(served, f"{V1}:predict", v1_rows(GOOD)).status_code == 200


# --- The command line ------------------------------------------------------------------------------------------

def test_the_default_pixel_limit_follows_the_models_input(serve_model_dir) -> None:
    from fairvision.params import MAX_IMAGE_PIXELS_CEILING
    from fairvision.serve.model import load_model
    from fairvision.serve.options import default_max_pixels

    assert load_model(serve_model_dir).input_size == SERVE_IMAGE_SIZE
    assert [default_max_pixels(side) for side in (16, 64, 256, 300, 512, 1024)] == [
        PHOTO_PIXELS, PHOTO_PIXELS, PHOTO_PIXELS, 256 * 300**2, 256 * 512**2, MAX_IMAGE_PIXELS_CEILING]


def test_serve_help_documents_the_limits(capsys) -> None:
    from fairvision.cli import main

    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--max-image-pixels PIXELS", "at least 16,777,216 = 4096 x 4096", "--max-images-per-request N",
                  "answered 413 (default: 64)", "--max-queued-images N", "answered 503 with Retry-After (default: 128",
                  "--limit-concurrency N", "3.1 GiB at the defaults"):
        assert words in text, words


def test_serve_errors_name_the_folder_or_flag(tmp_path, capsys, serve_model_dir) -> None:
    from fairvision.cli import main

    assert main(["serve", str(tmp_path / "missing")]) == 1
    assert f"{tmp_path / 'missing'}: not a model folder (no saved_model.pb)" in capsys.readouterr().err
    assert main(["serve", str(serve_model_dir), "--max-batch-size", "0"]) == 1
    assert "--max-batch-size must be at least 1; got 0" in capsys.readouterr().err
    assert main(["serve", str(serve_model_dir), "--max-images-per-request", "16", "--max-queued-images", "8"]) == 1
    assert ("--max-queued-images must be at least --max-images-per-request (16): a request's images are queued "
            "whole; got 8") in capsys.readouterr().err
    assert main(["serve", str(serve_model_dir), "--limit-concurrency", "1"]) == 1
    assert "--limit-concurrency must be at least 2; got 1" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(serve_model_dir), "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
