"""Where training runs: one device, every local GPU, or every worker of a Kubeflow job.

The training loop is the same for all three; only the ``tf.distribute`` strategy differs.
A TFJob describes its cluster in the ``TF_CONFIG`` environment variable, so its presence
(with more than one task) is what selects multi-worker training. A Kubeflow Trainer v2
TrainJob sets none; its pods' JobSet environment gives the same facts (``models/jobset.py``).
"""

from __future__ import annotations

import json
import logging
import os

import keras
import tensorflow as tf

from fairvision.errors import FairvisionError
from fairvision.models import jobset

log = logging.getLogger(__name__)


def distribution_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy for a TF_CONFIG cluster of several tasks, MirroredStrategy on a
    machine with several GPUs, else the default strategy (one device).

    Without TF_CONFIG but with ``JOBSET_NAME`` (a Trainer v2 pod), TF_CONFIG is first derived
    from the JobSet environment and set for this process, as a TFJob would have set it.
    """
    if not os.environ.get("TF_CONFIG") and jobset.JOBSET_NAME in os.environ:
        config = jobset.tf_config(os.environ)
        os.environ["TF_CONFIG"] = json.dumps(config)
        log.info("TF_CONFIG from the JobSet environment: worker %d of %s", config["task"]["index"],
                 ", ".join(config["cluster"]["worker"]))
    if len(_cluster_tasks()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the outputs: the chief, or worker 0 of a cluster without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker"
                                              and resolver.task_id == 0)


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """How many processes train together: the chief and workers of a multi-worker cluster, else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return sum(len(cluster.get(role, [])) for role in ("chief", "worker"))


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name of ``strategy`` (TensorFlow's classes behind them have other names)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "MirroredStrategy"
    return "default" if strategy is tf.distribute.get_strategy() else type(strategy).__name__


def use_mixed_precision() -> bool:
    """Compute in float16 on a GPU (Tensor Cores), keeping float32 weights; CPUs stay in float32,
    which they compute faster and reproducibly. Call before building the model."""
    mixed = bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    return mixed


def _cluster_tasks() -> list[str]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return []
    try:
        cluster = json.loads(raw).get("cluster", {})
        return [address for role in ("chief", "worker") for address in cluster.get(role, [])]
    except (ValueError, AttributeError):
        raise FairvisionError("TF_CONFIG is not the JSON a TFJob sets ({\"cluster\": {\"worker\": [...]}, "
                              "\"task\": {...}})") from None
