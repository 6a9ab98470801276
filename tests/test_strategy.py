"""Which strategy a run gets: one device here, several workers under a TFJob's TF_CONFIG or a TrainJob's JobSet
environment (the derivation itself: tests/test_jobset.py)."""

from __future__ import annotations

import json
import os

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


JOBSET_POD = {"JOBSET_NAME": "fv", "REPLICATED_JOB_NAME": "node", "JOB_COMPLETION_INDEX": "0",
              "FAIRVISION_NUM_NODES": "1"}


def test_a_trainjob_pod_without_tf_config_gets_one_from_its_jobset_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TF_CONFIG", "")  # absent as far as TensorFlow is concerned; restored afterwards
    for name, value in JOBSET_POD.items():
        monkeypatch.setenv(name, value)
    chosen = strategy.distribution_strategy()
    assert json.loads(os.environ["TF_CONFIG"]) == {"cluster": {"worker": ["fv-node-0-0.fv:2222"]},
                                                   "task": {"type": "worker", "index": 0}}
    assert chosen is tf.distribute.get_strategy() and strategy.worker_count(chosen) == 1  # one node: one device


def test_tf_config_wins_over_the_jobset_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    monkeypatch.setenv("TF_CONFIG", config)
    monkeypatch.setenv("JOBSET_NAME", "Not A Label")  # never read
    strategy.distribution_strategy()
    assert os.environ["TF_CONFIG"] == config


def test_a_bad_jobset_variable_stops_before_any_cluster_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", "")
    for name, value in (JOBSET_POD | {"FAIRVISION_NUM_NODES": "two"}).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(FairvisionError, match="FAIRVISION_NUM_NODES='two' must be an integer >= 1"):
        strategy.distribution_strategy()
    assert os.environ["TF_CONFIG"] == ""
