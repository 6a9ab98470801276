"""The Cloud Annotations format: classification and localization, every bad entry a named rejection."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from fairvision.data.cloud_annotations import Example, parse_annotations
from fairvision.data.images import stored_image
from fairvision.data.source import Rejection
from fairvision.errors import FairvisionError

IMAGES = ("a.jpg", "b.jpg", "c.jpg", "d.jpg")
MARKUP = "<b>chat</b> & “cat”"


def annotations(kind: str, entries: dict, labels=("cat", "dog", MARKUP)) -> str:
    return json.dumps({"version": "1.0", "type": kind, "labels": list(labels), "annotations": entries})


def test_classification_one_label_per_image_unlabelled_counted() -> None:
    parsed = parse_annotations(annotations("classification", {"a.jpg": [{"label": "cat"}],
                                                              "b.jpg": [{"label": MARKUP}]}), "x", IMAGES)
    assert parsed.examples == (Example("a.jpg", "cat"), Example("b.jpg", MARKUP))  # label text kept exactly
    assert parsed.unlabelled == ("c.jpg", "d.jpg") and parsed.rejected == ()


def test_several_labels_follow_the_policy() -> None:
    text = annotations("classification", {"a.jpg": [{"label": "cat"}, {"label": "dog"}],
                                          "b.jpg": [{"label": "dog"}, {"label": "dog"}]})
    rejected = parse_annotations(text, "x", IMAGES)
    assert rejected.examples == (Example("b.jpg", "dog"),)  # the same label twice is one label
    reason = "2 different labels (cat, dog); multi_label policy is reject"
    assert rejected.rejected == (Rejection("_annotations.json", None, "a.jpg", reason),)
    assert parse_annotations(text, "x", IMAGES, multi_label="first").examples[0] == Example("a.jpg", "cat")


def test_localization_one_example_per_box_extra_keys_ignored() -> None:
    boxes = [{"label": "cat", "x": 0.1, "y": 0.2, "x2": 0.5, "y2": 0.6, "id": "u1"},
             {"label": "dog", "x": 0, "y": 0, "x2": 1, "y2": 1}]
    parsed = parse_annotations(annotations("localization", {"a.jpg": boxes}), "x", IMAGES)
    assert [(e.id, e.label, e.box) for e in parsed.examples] == [
        ("a.jpg#0", "cat", (0.1, 0.2, 0.5, 0.6)), ("a.jpg#1", "dog", (0.0, 0.0, 1.0, 1.0))]


@pytest.mark.parametrize(("entry", "reason"), [
    ({"label": "cat", "x": 0.5, "y": 0.1, "x2": 0.5, "y2": 0.9}, "degenerate box"),
    ({"label": "cat", "x": -0.1, "y": 0.1, "x2": 0.5, "y2": 0.9}, "must lie in [0, 1]"),
    ({"label": "cat", "x": 0.1, "y": 0.1, "x2": 1.5, "y2": 0.9}, "must lie in [0, 1]"),
    ({"label": "cat", "x": 0.1, "y": 0.1, "x2": 0.5}, "missing y2"),
    ({"label": "cat", "x": "0", "y": 0.1, "x2": 0.5, "y2": 0.9}, "must be numbers"),
    ({"label": "bird", "x": 0.1, "y": 0.1, "x2": 0.5, "y2": 0.9}, "'bird' is not in `labels`"),
    ({"x": 0.1, "y": 0.1, "x2": 0.5, "y2": 0.9}, "no `label` string"),
])
def test_bad_boxes_are_rejected_with_a_reason(entry: dict, reason: str) -> None:
    parsed = parse_annotations(annotations("localization", {"a.jpg": [entry]}), "x", IMAGES)
    assert parsed.examples == () and len(parsed.rejected) == 1
    assert parsed.rejected[0].image == "a.jpg" and reason in parsed.rejected[0].reason


@pytest.mark.parametrize("key", ["/etc/passwd", "../outside.jpg", "sub/../../x.jpg", "C:\\x.jpg", "missing.jpg", ""])
def test_keys_outside_the_root_or_missing_are_rejected(key: str) -> None:
    parsed = parse_annotations(annotations("classification", {key: [{"label": "cat"}]}), "x", IMAGES)
    assert parsed.examples == () and parsed.rejected[0].image == key


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    (json.dumps({"type": "classification", "labels": []}), "missing `annotations`"),
    (json.dumps({"type": "segmentation", "labels": [], "annotations": {}}), "`type` must be one of"),
    (json.dumps({"type": "classification", "labels": [""], "annotations": {}}), "`labels` must be a list"),
    (json.dumps({"type": "classification", "labels": ["cat"], "annotations": {"a.jpg": "cat"}}),
     "`annotations.a.jpg` must be a list"),
])
def test_malformed_file_is_fatal_naming_it(text: str, message: str) -> None:
    with pytest.raises(FairvisionError, match="bucket/_annotations.json: .*" + message.replace("[", r"\[")):
        parse_annotations(text, "bucket/_annotations.json", IMAGES)


def crop(data: bytes, box: tuple[float, float, float, float]) -> Image.Image:
    problem, stored = stored_image(data, max_pixels=10_000, box=box)
    assert problem is None and stored is not None and stored.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(stored))


def test_crop_takes_the_box_in_pixels() -> None:
    image = Image.new("RGB", (100, 50), (255, 0, 0))
    image.paste((0, 0, 255), (50, 0, 100, 50))  # right half blue
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    cropped = crop(buffer.getvalue(), (0.5, 0.0, 1.0, 1.0))
    assert cropped.size == (50, 50) and cropped.getpixel((0, 0)) == (0, 0, 255)
    assert crop(buffer.getvalue(), (0.999, 0.999, 1.0, 1.0)).size == (1, 1)
