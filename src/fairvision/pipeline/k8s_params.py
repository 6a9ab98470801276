"""params.yaml's `kubernetes` section: what `fairvision k8s` and `fairvision pipeline compile` generate from.

Read here rather than in ``fairvision.params`` because no pipeline stage needs it: params.py is a code
dependency of every DVC stage, so reading a Kubernetes setting there would rerun the whole pipeline for
a change that cannot alter any stage's output. Validated with params.py's own ``Section`` (the same
messages naming the key); `dvc repro` and the stages never load this section.
"""

from __future__ import annotations

import dataclasses
import os
import re

from fairvision.errors import FairvisionError
from fairvision.params import Section, read_params_file

# kubernetes.train.operator: Training Operator v1's TFJob, or Kubeflow Trainer v2's TrainJob on a JobSet
OPERATORS = ("tfjob", "trainjob")
# kubernetes.serve.runtime: KServe's TensorFlow Serving runtime, or a custom container running `fairvision serve`
RUNTIMES = ("tensorflow", "fairvision")
CLEAN_POD_POLICIES = ("None", "All", "Running")
# kubernetes.workspace_access_mode: how the pipeline's workspace volume may be mounted. ReadWriteMany lets steps and
# a training job's workers on several nodes share it; ReadWriteOnce needs every pod of a run on one node.
ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")  # TFJob runPolicy.cleanPodPolicy: which pods go once a job ends


@dataclasses.dataclass(frozen=True)
class Resources:
    """One pod's share: requested and limited alike (Guaranteed QoS), as GPUs must be."""

    cpu: str  # a Kubernetes quantity: "2", "500m"
    memory: str  # "8Gi"
    gpu: int  # nvidia.com/gpu; 0 = none


@dataclasses.dataclass(frozen=True)
class Storage:
    prefix: str  # s3://bucket[/prefix] without a trailing slash: models live under <prefix>/models/<D>/<B>/
    endpoint: str | None  # http(s)://host[:port] of a non-AWS S3 server; None = AWS


@dataclasses.dataclass(frozen=True)
class Checkpoints:
    pvc: str  # the PersistentVolumeClaim every training worker mounts (ReadWriteMany)
    size: str  # its requested size, a quantity


@dataclasses.dataclass(frozen=True)
class KubernetesTrain:
    operator: str  # one of OPERATORS
    workers: int  # TFJob Worker replicas, TrainJob numNodes
    resources: Resources  # per worker
    backoff_limit: int  # restarts before the job counts as failed
    ttl_seconds_after_finished: int  # a finished job is deleted after this long
    clean_pod_policy: str  # one of CLEAN_POD_POLICIES (TFJob only)


@dataclasses.dataclass(frozen=True)
class KubernetesServe:
    runtime: str  # one of RUNTIMES
    resources: Resources  # per predictor pod


@dataclasses.dataclass(frozen=True)
class Kubernetes:
    """`kubernetes`: what `fairvision k8s` and `fairvision pipeline compile` write into k8s/; no stage reads it."""

    namespace: str
    image: str  # the one image (pipeline steps, training jobs, the custom predictor)
    workspace: str  # the size of the pipeline's workspace volume, a quantity
    workspace_access_mode: str  # one of ACCESS_MODES
    pipeline_root: str | None  # where KFP keeps a run's artifacts (an object-store prefix); None: the installation's
    storage: Storage
    checkpoints: Checkpoints
    train: KubernetesTrain
    serve: KubernetesServe




# A Kubernetes object name (an RFC 1123 label), a quantity greater than 0 (Kubernetes' suffixes; no sign), an image
# reference (Docker's grammar: [registry[:port]/]path[:tag][@sha256:digest]), an S3 prefix and an S3 endpoint.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_QUANTITY = re.compile(r"(?=[\d.]*[1-9])(\d+(\.\d+)?|\.\d+)([eE]\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                    rf"(?::\d+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::\w[\w.-]{{0,127}})?"
                    r"(?:@sha256:[0-9a-f]{64})?")
_PIPELINE_ROOT = re.compile(r"(s3|gs|minio)://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/[A-Za-z0-9!_.*'()/-]*)?")
_S3_PREFIX = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/[A-Za-z0-9!_.*'()/-]*)?")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?/?")
_LABEL_EXPECTED = "a Kubernetes name: lower-case letters, digits and `-`, at most 63, starting and ending alphanumeric"
_QUANTITY_EXPECTED = "a Kubernetes quantity greater than 0, e.g. 8Gi, 512Mi, 2 or 500m"


def _resources(root: Section) -> Resources:
    root.only("cpu", "memory", "gpu")
    return Resources(cpu=root.matching("cpu", _QUANTITY, _QUANTITY_EXPECTED),
                     memory=root.matching("memory", _QUANTITY, _QUANTITY_EXPECTED), gpu=root.integer("gpu", 0))


def _kubernetes(root: Section) -> Kubernetes:
    root.only("namespace", "image", "workspace", "workspace_access_mode", "pipeline_root", "storage", "checkpoints",
              "train", "serve")
    storage = root.section("storage").only("prefix", "endpoint")
    checkpoints = root.section("checkpoints").only("pvc", "size")
    train = root.section("train").only("operator", "workers", "resources", "backoff_limit",
                                       "ttl_seconds_after_finished", "clean_pod_policy")
    serve = root.section("serve").only("runtime", "resources")
    endpoint = storage.data.get("endpoint")
    return Kubernetes(
        namespace=root.matching("namespace", DNS_LABEL, _LABEL_EXPECTED),
        image=root.matching("image", _IMAGE, "an image reference such as ghcr.io/owner/name:tag (no spaces, "
                                             "lower-case repository)"),
        workspace=root.matching("workspace", _QUANTITY, _QUANTITY_EXPECTED),
        workspace_access_mode=root.choice("workspace_access_mode", ACCESS_MODES),
        pipeline_root=None if root.data.get("pipeline_root") is None else root.matching(
            "pipeline_root", _PIPELINE_ROOT, "null or an object-store prefix such as s3://bucket/pipeline").rstrip("/"),
        storage=Storage(
            prefix=storage.matching("prefix", _S3_PREFIX, "an S3 prefix such as s3://bucket/fairvision").rstrip("/"),
            endpoint=None if endpoint is None else storage.matching(
                "endpoint", _ENDPOINT, "null (AWS) or an S3 server's http(s)://host[:port]").rstrip("/"),
        ),
        checkpoints=Checkpoints(pvc=checkpoints.matching("pvc", DNS_LABEL, _LABEL_EXPECTED),
                                size=checkpoints.matching("size", _QUANTITY, _QUANTITY_EXPECTED)),
        train=KubernetesTrain(
            operator=train.choice("operator", OPERATORS),
            workers=train.integer("workers"),
            resources=_resources(train.section("resources")),
            backoff_limit=train.integer("backoff_limit", 0),
            ttl_seconds_after_finished=train.integer("ttl_seconds_after_finished", 0),
            clean_pod_policy=train.choice("clean_pod_policy", CLEAN_POD_POLICIES),
        ),
        serve=KubernetesServe(runtime=serve.choice("runtime", RUNTIMES),
                              resources=_resources(serve.section("resources"))),
    )


def load_kubernetes(path: str | os.PathLike[str]) -> Kubernetes:
    """The `kubernetes` section of the params file at ``path``; raises FairvisionError naming a bad or missing key."""
    root = read_params_file(path)
    if root.data.get("kubernetes") is None:
        raise FairvisionError(f"{path}: missing `params.kubernetes` (what the manifests and the pipeline's image "
                              "come from; the repository's params.yaml has one to copy)")
    return _kubernetes(root.section("kubernetes"))
