"""params.yaml is validated up front, and every error names the offending key.

The schema checks shapes and plain vocabularies; names only a stage's registry knows (a
backbone, a tolerance's metric) are checked by that stage before any work, and named as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fairvision.audit.tolerance import bands
from fairvision.audit.verdicts import Band
from fairvision.errors import FairvisionError
from fairvision.models.backbones import require_backbone
from fairvision.params import load_params
from params_file import ROOT, write_params


D = "datasets.synthetic"  # the default dataset's key
S = f"{D}.source"


def test_repository_params_load() -> None:
    params = load_params(ROOT / "params.yaml")
    assert set(params.backbones) == {"small_cnn", "small_cnn+reweighing", "mobilenet_v2"}
    assert list(params.datasets) == ["synthetic"]
    dataset = params.datasets["synthetic"]
    assert dataset.target == "gender" and dataset.protected == ("race", "age") and dataset.name == "synthetic"
    assert params.synth.bias is not None and params.synth.bias.where == {"race": "Latino_Hispanic"}
    assert params.synth.hidden == {}  # the default demo data has no hidden attributes
    assert params.prepare.max_image_bytes == 20 * 2**20  # sized for photos: a 24-megapixel JPEG is 5-15 MB


def test_tolerance_overrides_apply_per_metric_kind(tmp_path: Path) -> None:
    change = {"audit.tolerance.metrics": {"error_rate_difference": 0.05, "disparate_impact": [0.9, 1.1]}}
    tolerance = bands(load_params(write_params(tmp_path, change)).audit.tolerance)
    assert tolerance["error_rate_difference"] == Band(-0.05, 0.05)
    assert tolerance["disparate_impact"] == Band(0.9, 1.1)
    assert tolerance["statistical_parity_difference"] == Band(-0.1, 0.1)
    assert tolerance["error_rate_ratio"] == Band(0.8, 1.25)


def test_intersections_get_a_reference_setting(tmp_path: Path) -> None:
    change = {f"{D}.intersections": [["age", "race"]], f"{D}.reference": {"age × race": "20-29 × White"}}
    dataset = load_params(write_params(tmp_path, change)).datasets["synthetic"]
    assert dataset.intersections == (("age", "race"),)
    assert dataset.reference["age × race"] == "20-29 × White" and dataset.reference["age"] == "auto"


def test_own_data_with_custom_attributes_or_none(tmp_path: Path) -> None:
    change = {S: {"format": "cloud_annotations", "path": "s3://bucket/pets", "attributes": "meta/attributes.csv",
                  "multi_label": "first"},
              f"{D}.target": "label", f"{D}.protected": ["skin_tone", "region"],
              f"{D}.intersections": [["skin_tone", "region"]], f"{D}.reference": {"skin_tone": "type III"}}
    dataset = load_params(write_params(tmp_path, change)).datasets["synthetic"]
    assert dataset.protected == ("skin_tone", "region") and dataset.multi_label == "first"
    assert dataset.attributes == "meta/attributes.csv"
    assert dataset.reference == {"skin_tone": "type III", "region": "auto", "skin_tone × region": "auto"}
    none = {S: {"format": "image_folder", "path": "faces"}, f"{D}.target": "label", f"{D}.protected": [],
            f"{D}.reference": {}, f"{D}.intersections": []}
    dataset = load_params(write_params(tmp_path, none)).datasets["synthetic"]
    assert dataset.protected == () and dataset.reference == {} and dataset.attributes is None


def test_several_datasets_each_with_its_own_attributes(tmp_path: Path) -> None:
    faces = {"source": {"format": "image_folder", "path": "data/raw/faces", "attributes": "attributes.csv"},
             "target": "label", "protected": ["skin_tone"], "reference": {"skin_tone": "III"}, "intersections": []}
    params = load_params(write_params(tmp_path, {"datasets.faces": faces}))
    assert set(params.datasets) == {"synthetic", "faces"}
    assert params.datasets["faces"].reference == {"skin_tone": "III"} and params.datasets["faces"].name == "faces"
    assert params.datasets["synthetic"].intersections == (("race", "age"),)


def test_bias_none_plants_nothing(tmp_path: Path) -> None:
    assert load_params(write_params(tmp_path, {"synth.bias": "none"})).synth.bias is None


def test_hidden_attributes_and_a_plant_on_an_intersection(tmp_path: Path) -> None:
    """`where` plants on one attribute or several, hidden ones included; the one-attribute form reads the same."""
    B = "synth.bias"
    change = {"synth.hidden": {"lighting": 0.2, "glasses": 0.15}, f"{B}.attribute": ..., f"{B}.group": ...,
              f"{B}.where": {"race": "Black", "glasses": "yes"}}
    synth = load_params(write_params(tmp_path, change)).synth
    assert list(synth.hidden.items()) == [("glasses", 0.15), ("lighting", 0.2)]  # the registry's order
    assert synth.bias is not None and synth.bias.where == {"race": "Black", "glasses": "yes"}
    assert synth.bias.describe() == "race=Black × glasses=yes"
    one = {f"{B}.attribute": ..., f"{B}.group": ..., f"{B}.where": {"race": "Latino_Hispanic"}}
    assert load_params(write_params(tmp_path, one)).synth == load_params(ROOT / "params.yaml").synth
    hidden_alone = {"synth.hidden": {"glasses": 0.5}, f"{B}.attribute": "glasses", f"{B}.group": "no"}
    assert load_params(write_params(tmp_path, hidden_alone)).synth.bias.where == {"glasses": "no"}
    for nothing in (None, "none", {}):
        assert load_params(write_params(tmp_path, {"synth.hidden": nothing})).synth.hidden == {}
    assert load_params(write_params(tmp_path, {"synth.hidden": ...})).synth.hidden == {}  # older params files


W = "synth.bias.where"


@pytest.mark.parametrize(("change", "message"), [
    ({"synth.hidden": {"hat": 0.1}}, "unknown key `params.synth.hidden.hat`; known: glasses, lighting"),
    ({"synth.hidden": {"glasses": 1.5}}, "`params.synth.hidden.glasses` must be a number in [0.0, 1.0], got 1.5"),
    ({"synth.hidden": ["glasses"]}, "`params.synth.hidden` must be a mapping, got ['glasses']"),
    ({W: {"race": "Black", "glasses": "yes"}}, "`params.synth.bias.where.glasses` names the hidden attribute "
                                               "'glasses', which `synth.hidden` does not draw"),
    ({"synth.bias.attribute": "lighting"}, "`params.synth.bias.attribute` names the hidden attribute 'lighting'"),
    ({"synth.hidden": {"glasses": 0.1}, W: {"glasses": True}},
     "`params.synth.bias.where.glasses` must be one of no, yes, quoted (YAML reads a bare yes or no as true"),
    ({W: {"height": "tall"}}, "unknown attribute `params.synth.bias.where.height`; known: race, gender, age"),
    ({W: {"race": "Martian"}}, "`params.synth.bias.where.race` must be one of White, Black"),
    ({W: {}}, "`params.synth.bias.where` must name one or more attributes, got {}"),
    ({W: "race"}, "`params.synth.bias.where` must be a mapping, got 'race'"),
    ({W: {"race": "Black"}}, "`params.synth.bias` takes `where` or `attribute` with `group`, not both"),
    ({"synth.bias.attribute": "height"}, "`params.synth.bias.attribute` must be one of race, gender, age, got"),
    ({"synth.bias.wher": {}}, "unknown key `params.synth.bias.wher`; known: where, attribute, group"),
])
def test_bad_hidden_attributes_or_plants_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    if W in change and "synth.bias.attribute" not in change and change[W] != {"race": "Black"}:
        change = {**change, "synth.bias.attribute": ..., "synth.bias.group": ...}
    with pytest.raises(FairvisionError) as raised:
        load_params(write_params(tmp_path, change))
    assert message in str(raised.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"synth.n_train": -1}, "`params.synth.n_train` must be an integer >= 1, got -1"),
    ({"synth.ambiguity": 0.5}, "`params.synth.ambiguity` must be a number in [0.0, 0.45], got 0.5"),
    ({"synth.bias.group": "Martian"}, "`params.synth.bias.group` must be one of"),
    ({"synth.padding": 0.5}, "`params.synth.padding` must be one of 0.25, 1.25"),
    ({"datasets": {}}, "`datasets` names no dataset"),
    ({"datasets": {"../up": {}}}, "dataset name `datasets.../up` must be letters, digits"),
    ({f"{D}.target": "income"}, f"`params.{D}.target` must be one of"),
    ({f"{D}.protected": ["race", "height"]}, f"`params.{D}.protected` must be a list drawn from race, age"),
    ({f"{D}.protected": ["race", "gender"]}, f"`params.{D}.protected` must be a list drawn from race, age"),
    ({f"{D}.intersections": [["race", "gender"]]}, f"`params.{D}.intersections` must be a list of lists of two "
                                                   "or more distinct attributes of `protected` (race, age)"),
    ({f"{S}.format": "coco"}, f"`params.{S}.format` must be one of fairface, cloud_annotations, image_folder"),
    ({f"{S}.format": "image_folder"}, f"`params.{D}.target` must be one of label, got 'gender'"),
    ({f"{S}.attributes": "attributes.csv"}, f"`params.{S}.attributes` must be absent for fairface"),
    ({f"{S}.zip": "x.zip"}, f"unknown key `params.{S}.zip`; known: format, path"),
    ({f"{S}.format": "image_folder", f"{D}.target": "label", f"{S}.attributes": "../a.csv"},
     f"`params.{S}.attributes` must be null or the key of a CSV in the dataset folder"),
    ({f"{S}.format": "image_folder", f"{D}.target": "label"},
     f"`params.{D}.protected` must be [] when `source.attributes` names no attribute table"),
    ({"prepare.test_fraction": 0.9}, "`params.prepare.test_fraction` must be a number in [0.05, 0.5]"),
    ({"train.learning_rate": "fast"}, "`params.train.learning_rate` must be a number"),
    ({"train.seeds": []}, "`params.train.seeds` must be a list of 1 to 100 distinct integers >= 0"),
    ({"train.seeds": [0, 0]}, "`params.train.seeds` must be a list of 1 to 100 distinct integers >= 0"),
    ({"train.seeds": [0, -1]}, "`params.train.seeds` must be a list of 1 to 100 distinct integers >= 0"),
    ({"train.seeds": 3}, "distinct integers >= 0, e.g. [0] or [0, 1, 2, 3, 4], got 3"),
    ({"train.seeds": [True]}, "`params.train.seeds` must be a list of 1 to 100 distinct integers >= 0"),
    ({"train.seed": 3}, "`params.train.seed` was replaced by `params.train.seeds`, a list (write `seeds: [3]`)"),
    ({f"{D}.reference.race": "Martian"}, f"`params.{D}.reference.race` must be `auto` or one of"),
    ({f"{D}.reference.gender": "Male"}, f"`params.{D}.reference.gender` is not an audited partition; audited: race"),
    ({"audit.tolerance.difference": -0.1}, "`params.audit.tolerance.difference` must be a number in [0.0, 1.0]"),
    ({"audit.tolerance.ratio": [1.2, 0.8]},
     "`params.audit.tolerance.ratio` must be a pair [low, high] with 0 <= low <= 1"),
    ({"audit.tolerance.metrics": {"disparate_impact": [1.2, 0.8]}},
     "`params.audit.tolerance.metrics.disparate_impact` must be a pair [low, high] with 0 <= low <= 1"),
    ({"audit.tolerance.metrics": {"error_rate_difference": 2}},
     "`params.audit.tolerance.metrics.error_rate_difference` must be a number in [0.0, 1.0]"),
    ({f"{D}.intersections": [["race"]]}, f"`params.{D}.intersections` must be a list of lists of two or more"),
    ({"audit.bootstrap.resamples": 0}, "`params.audit.bootstrap.resamples` must be an integer >= 1, got 0"),
    ({"audit.bootstrap.level": 1.5}, "`params.audit.bootstrap.level` must be a number in [0.5, 0.999], got 1.5"),
    ({"audit.multiple_comparisons": "holm"}, "`params.audit.multiple_comparisons` must be one of simultaneous"),
    ({"check.difference_margin": "big"}, "`params.check.difference_margin` must be a number"),
    ({"check.training_noise": {"error_rate_difference": -0.1}},
     "`params.check.training_noise.error_rate_difference` must be a number in [0.0, 10.0]"),
    ({"check.training_noise": [0.1]}, "`params.check.training_noise` must be a mapping"),
    ({"prepare.max_reject_fraction": 1.5}, "`params.prepare.max_reject_fraction` must be a number in [0.0, 1.0]"),
    ({"prepare.max_image_bytes": 0}, "`params.prepare.max_image_bytes` must be an integer in [1, 2147483647], got 0"),
    ({"prepare.max_image_bytes": 2**31}, "`params.prepare.max_image_bytes` must be an integer in [1, 2147483647]"),
    ({"prepare.max_image_bytes": "20 MiB"}, "`params.prepare.max_image_bytes` must be an integer in [1, 2147483647]"),
    ({"prepare.max_image_bytes": ...}, "missing `params.prepare.max_image_bytes`"),
    ({"backbones": {"bad name!": {}}}, "backbone name `backbones.bad name!` must be an architecture's name"),
    ({"prepare": None}, "`params.prepare` must be a mapping"),
])
def test_invalid_values_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(FairvisionError) as error:
        load_params(write_params(tmp_path, change))
    assert message in str(error.value)
    assert str(tmp_path / "params.yaml") in str(error.value)


def test_missing_key_and_missing_file(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    del params["train"]["epochs"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(FairvisionError, match="missing `params.train.epochs`"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(FairvisionError, match="no such parameters file"):
        load_params(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("train: [unclosed")
    with pytest.raises(FairvisionError, match="not valid YAML"):
        load_params(tmp_path / "broken.yaml")


@pytest.mark.parametrize(("change", "check", "message"), [
    ({"audit.tolerance.metrics": {"parity": 0.1}}, lambda p: bands(p.audit.tolerance),
     "unknown metric `params.audit.tolerance.metrics.parity`; known: statistical_parity_difference"),
    ({"audit.tolerance.metrics": {"disparate_impact": 0.8}}, lambda p: bands(p.audit.tolerance),
     "`params.audit.tolerance.metrics.disparate_impact` must be a pair [low, high]"),
    ({"audit.tolerance.metrics": {"error_rate_difference": [0.9, 1.1]}}, lambda p: bands(p.audit.tolerance),
     "`params.audit.tolerance.metrics.error_rate_difference` must be a number in [0.0, 1.0]"),
    ({"backbones": {"vgg99+x": {}}}, lambda p: [require_backbone(name) for name in p.backbones],
     "unknown backbone `backbones.vgg99+x`; known: efficientnet_b0, mobilenet_v2, resnet50, small_cnn"),
])
def test_names_only_a_stage_knows_are_checked_by_it_naming_the_key(tmp_path: Path, change: dict[str, Any], check,
                                                                  message: str) -> None:
    params = load_params(write_params(tmp_path, change))  # the schema accepts the shape
    with pytest.raises(FairvisionError) as error:
        check(params)
    assert message in str(error.value)
