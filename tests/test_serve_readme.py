"""The README's serving examples, sent as written: the curl request bodies and the Python client calls.

The bodies are taken from the README's "Serving" section at test time, so the documentation
cannot drift from what the server accepts; only the address changes (the test server has a
random port) and face.jpg is a generated image.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import requests

from conftest import SERVE_LABELS, encode_image

README = Path(__file__).resolve().parents[1] / "README.md"
README_URL = "http://127.0.0.1:8501"
# echo '<json before>'$(base64 < face.jpg | tr -d '\n')'<json after>' > <file>
ECHO = re.compile(r"""^echo '(?P<before>[^']*)'\$\(base64 < face\.jpg \| tr -d '\\n'\)'(?P<after>[^']*)'"""
                  r""" > (?P<file>\S+)$""")
CURL = re.compile(r"^curl -s (?P<headers>(?:-H '[^']*' )*)-d @(?P<file>\S+) (?P<url>\S+)$")


def serving_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Serving\n"):text.index("\n## ", text.index("## Serving\n") + 1)]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", serving_section(), flags=re.S)


def curl_requests() -> list[tuple[str, dict[str, str], bytes]]:
    """(url, headers, body template with IMAGE for the base64 image) of each echo + curl pair in the section."""
    lines = [line for block in code_blocks("sh") for line in block.splitlines()]
    bodies = {m["file"]: (m["before"] + "IMAGE" + m["after"]).encode() for m in map(ECHO.match, lines) if m}
    found = []
    for match in filter(None, map(CURL.match, lines)):
        headers = dict(h.split(": ", 1) for h in re.findall(r"-H '([^']*)'", match["headers"]))
        found.append((match["url"], headers, bodies[match["file"]]))
    return found


@pytest.fixture
def face(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    image = encode_image((180, 140, 120), size=48)
    (tmp_path / "face.jpg").write_bytes(image)
    monkeypatch.chdir(tmp_path)
    return image


def test_the_section_has_one_curl_and_one_python_call_per_protocol() -> None:
    assert "fairvision serve models/synthetic/small_cnn/seed-0" in serving_section()
    assert sorted(url.split("/")[3] for url, _, _ in curl_requests()) == ["v1", "v2"]
    assert sorted(re.search(r"/(v[12])/models/", block)[1] for block in code_blocks("python")) == ["v1", "v2"]


def test_the_curl_bodies_are_answered(served, face) -> None:
    image = base64.b64encode(face).decode()
    for url, headers, template in curl_requests():
        assert url.startswith(README_URL + "/")
        body = template.replace(b"IMAGE", image.encode())
        json.loads(body)  # what echo writes is JSON
        response = requests.post(url.replace(README_URL, served.url), data=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        answer = response.json()
        classes = answer["predictions"][0]["classes"] if "predictions" in answer else answer["outputs"][1]["data"]
        assert classes == SERVE_LABELS


def test_the_python_clients_print_the_answer(served, face) -> None:
    for block in code_blocks("python"):
        assert README_URL in block
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.replace(README_URL, served.url), "README.md", "exec"), {})
        assert "probabilities" in printed.getvalue() and SERVE_LABELS[0] in printed.getvalue()
