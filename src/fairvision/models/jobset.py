"""TF_CONFIG for a pod of a Kubeflow Trainer v2 TrainJob, which sets none.

Trainer v2 runs a TrainJob as a JobSet and, outside its torch, MPI and JAX policies, adds no
cluster variables (kubeflow/trainer ``pkg/runtime/framework/plugins/plainml/plainml.go`` only
copies the TrainJob's own ``env``; ``PET_*`` are the torch plugin's), so a TensorFlow
worker has to build the ``TF_CONFIG`` a TFJob would have set from what the pod does know:

- ``JOB_COMPLETION_INDEX``: this pod's index, which Kubernetes sets in every pod of an Indexed
  Job (kubernetes.io/docs/tasks/job/indexed-parallel-processing-static); JobSet makes its Jobs
  Indexed by default (kubernetes-sigs/jobset ``pkg/webhooks/jobset_webhook.go``).
- ``JOBSET_NAME`` and ``REPLICATED_JOB_NAME``: the pod labels ``jobset.sigs.k8s.io/jobset-name``
  and ``jobset.sigs.k8s.io/replicatedjob-name``, which the runtime passes on through the downward
  API (JobSet sets the labels, not the variables: jobset ``site/content/en/docs/concepts/_index.md``).
- ``FAIRVISION_NUM_NODES``: how many pods train together, the TrainJob's ``numNodes``; no label
  or variable carries it, so the TrainJob sets it beside ``numNodes``.

Each pod is reachable at ``<jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain>`` through
the JobSet's headless service, the subdomain defaulting to the JobSet's name (JobSet docs,
"DNS hostnames for Pods"; Trainer v2 names the JobSet after the TrainJob and leaves the
subdomain at that default: trainer ``pkg/runtime/framework/plugins/jobset/jobset.go``). Trainer v2's
trainer step is one Job (job index 0) of ``numNodes`` pods, so pod i is task i of the cluster.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from fairvision.errors import FairvisionError

JOBSET_NAME, REPLICATED_JOB_NAME = "JOBSET_NAME", "REPLICATED_JOB_NAME"
POD_INDEX, NUM_NODES = "JOB_COMPLETION_INDEX", "FAIRVISION_NUM_NODES"
PORT = 2222  # every pod has its own address, so one port serves all: the TFJob default (TFJobDefaultPort)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # RFC 1123 DNS label, as Kubernetes names a host


def tf_config(environment: Mapping[str, str]) -> dict[str, Any]:
    """The TF_CONFIG of this pod: every node's ``host:port`` as a ``worker`` (worker 0 is the chief), and this
    pod's index as its task.

    Raises:
        FairvisionError: a variable that is missing or not what JobSet and Kubernetes set, named.
    """
    jobset, replicated_job = _label(environment, JOBSET_NAME), _label(environment, REPLICATED_JOB_NAME)
    nodes, index = _count(environment, NUM_NODES, minimum=1), _count(environment, POD_INDEX, minimum=0)
    if index >= nodes:
        raise FairvisionError(f"{POD_INDEX}={index} is not the index of one of {NUM_NODES}={nodes} nodes: "
                              f"{NUM_NODES} must equal the TrainJob's numNodes")
    hosts = [f"{jobset}-{replicated_job}-0-{pod}" for pod in range(nodes)]
    if len(hosts[-1]) > 63:
        raise FairvisionError(f"{JOBSET_NAME}={jobset!r} and {REPLICATED_JOB_NAME}={replicated_job!r} make a pod "
                              f"host name of {len(hosts[-1])} characters ({hosts[-1]}); a DNS label has at most 63")
    return {"cluster": {"worker": [f"{host}.{jobset}:{PORT}" for host in hosts]},
            "task": {"type": "worker", "index": index}}


def _required(environment: Mapping[str, str], name: str) -> str:
    value = environment.get(name)
    if value is None or not value.strip():
        raise FairvisionError(f"{name} is {'empty' if value is not None else 'not set'}, and TF_CONFIG is absent: "
                              f"a Trainer v2 pod needs {JOBSET_NAME}, {REPLICATED_JOB_NAME}, {POD_INDEX} and "
                              f"{NUM_NODES} (README, Running on Kubernetes)")
    return value


def _label(environment: Mapping[str, str], name: str) -> str:
    value = _required(environment, name)
    if not _LABEL.fullmatch(value):
        raise FairvisionError(f"{name}={value!r} is not a DNS label (lower-case letters, digits and '-', starting "
                              "and ending with a letter or digit), as JobSet's names are")
    return value


def _count(environment: Mapping[str, str], name: str, *, minimum: int) -> int:
    value = _required(environment, name)
    if not value.isascii() or not value.isdigit() or int(value) < minimum:
        raise FairvisionError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)
