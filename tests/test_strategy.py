"""Which strategy a run gets: one device here, several workers under a TFJob's TF_CONFIG."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from fairvision.errors import FairvisionError
from fairvision.models import strategy


def test_without_tf_config_one_device_and_its_own_chief(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    chosen = strategy.distribution_strategy()
    assert chosen is tf.distribute.get_strategy() and strategy.is_chief(chosen)
    assert strategy.strategy_name(chosen) == "default"
    assert strategy.use_mixed_precision() is False  # no GPU here: float32 keeps CPU runs reproducible


@pytest.mark.parametrize(("config", "tasks"), [
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, ["a:1", "b:2"]),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "chief", "index": 0}},
     ["c:1", "a:1"]),
    ({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, ["a:1"]),  # one task: no cluster
])
def test_tf_config_tasks(monkeypatch: pytest.MonkeyPatch, config: dict, tasks: list[str]) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert strategy._cluster_tasks() == tasks


def test_malformed_tf_config_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(FairvisionError, match="TF_CONFIG is not the JSON a TFJob sets"):
        strategy.distribution_strategy()
