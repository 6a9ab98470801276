"""params.yaml is validated up front, and every error names the offending key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fairvision.errors import FairvisionError
from fairvision.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, change: dict[str, Any]) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_repository_params_load() -> None:
    params = load_params(ROOT / "params.yaml")
    assert set(params.backbones) == {"small_cnn", "mobilenet_v2"}
    assert params.dataset.target == "gender" and params.dataset.protected == ("race", "age")
    assert params.synth.bias is not None and params.synth.bias.attribute == "race"


def test_bias_none_plants_nothing(tmp_path: Path) -> None:
    assert load_params(write_params(tmp_path, {"synth.bias": "none"})).synth.bias is None


@pytest.mark.parametrize(("change", "message"), [
    ({"synth.n_train": -1}, "`params.synth.n_train` must be an integer >= 1, got -1"),
    ({"synth.bias.group": "Martian"}, "`params.synth.bias.group` must be one of"),
    ({"dataset.target": "income"}, "`params.dataset.target` must be one of"),
    ({"dataset.protected": ["race", "height"]}, "`params.dataset.protected` must be a non-empty list"),
    ({"train.learning_rate": "fast"}, "`params.train.learning_rate` must be a number"),
    ({"audit.privileged.race": "Martian"}, "`params.audit.privileged.race` must be `auto` or one of"),
    ({"audit.tolerance.disparate_impact": 2}, "`params.audit.tolerance.disparate_impact` must be a number in [0.0, 1.0]"),
    ({"backbones.vgg99": {}}, "unknown backbone `backbones.vgg99`"),
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
