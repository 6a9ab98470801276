"""The TF_CONFIG a Trainer v2 pod derives from its JobSet environment, and every way that environment can be wrong."""

from __future__ import annotations

import pytest

from fairvision.errors import FairvisionError
from fairvision.models.jobset import tf_config

POD = {"JOBSET_NAME": "synthetic-small-cnn", "REPLICATED_JOB_NAME": "node", "JOB_COMPLETION_INDEX": "1",
       "FAIRVISION_NUM_NODES": "3"}


def test_every_pod_is_a_worker_at_its_jobset_host_name_and_this_pod_is_its_index() -> None:
    assert tf_config(POD) == {
        "cluster": {"worker": ["synthetic-small-cnn-node-0-0.synthetic-small-cnn:2222",
                               "synthetic-small-cnn-node-0-1.synthetic-small-cnn:2222",
                               "synthetic-small-cnn-node-0-2.synthetic-small-cnn:2222"]},
        "task": {"type": "worker", "index": 1},
    }


def test_one_node_is_a_cluster_of_one() -> None:
    config = tf_config(POD | {"JOB_COMPLETION_INDEX": "0", "FAIRVISION_NUM_NODES": "1"})
    assert config["cluster"]["worker"] == ["synthetic-small-cnn-node-0-0.synthetic-small-cnn:2222"]


@pytest.mark.parametrize("name", ["JOBSET_NAME", "REPLICATED_JOB_NAME", "JOB_COMPLETION_INDEX", "FAIRVISION_NUM_NODES"])
def test_a_missing_or_empty_variable_is_named(name: str) -> None:
    with pytest.raises(FairvisionError, match=f"^{name} is not set, and TF_CONFIG is absent: a Trainer v2 pod needs"):
        tf_config({k: v for k, v in POD.items() if k != name})
    with pytest.raises(FairvisionError, match=f"^{name} is empty"):
        tf_config(POD | {name: " "})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("JOBSET_NAME", "Synthetic", "JOBSET_NAME='Synthetic' is not a DNS label"),
    ("JOBSET_NAME", "small_cnn", "JOBSET_NAME='small_cnn' is not a DNS label"),
    ("REPLICATED_JOB_NAME", "node-", "REPLICATED_JOB_NAME='node-' is not a DNS label"),
    ("REPLICATED_JOB_NAME", "a.b", "REPLICATED_JOB_NAME='a.b' is not a DNS label"),
    ("JOB_COMPLETION_INDEX", "-1", r"JOB_COMPLETION_INDEX='-1' must be an integer >= 0"),
    ("JOB_COMPLETION_INDEX", "one", r"JOB_COMPLETION_INDEX='one' must be an integer >= 0"),
    ("JOB_COMPLETION_INDEX", "3", "JOB_COMPLETION_INDEX=3 is not the index of one of FAIRVISION_NUM_NODES=3 nodes"),
    ("FAIRVISION_NUM_NODES", "0", r"FAIRVISION_NUM_NODES='0' must be an integer >= 1"),
    ("FAIRVISION_NUM_NODES", "2.0", r"FAIRVISION_NUM_NODES='2.0' must be an integer >= 1"),
    ("FAIRVISION_NUM_NODES", "²", r"FAIRVISION_NUM_NODES='²' must be an integer >= 1"),
    ("JOBSET_NAME", "j" * 60, "make a pod host name of 69 characters"),
])
def test_a_malformed_variable_is_named_with_its_value(name: str, value: str, message: str) -> None:
    with pytest.raises(FairvisionError, match=message):
        tf_config(POD | {name: value})
