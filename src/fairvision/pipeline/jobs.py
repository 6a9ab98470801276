"""Run one training job on a cluster: create the TFJob or TrainJob that k8s/ holds, and wait for its end.

`kubectl apply -k k8s/` starts every job and returns at once; a pipeline step or
`fairvision k8s submit` must instead end when its job ends, succeed or fail as it did, and say why in
the job's own words: the reason and message of the condition the operator wrote. The object is the
one ``k8s.training_job`` builds, so what runs is what tests/test_k8s.py validated, and it is sent with
``fieldValidation=Strict``, so a real API server rejects a misspelt field instead of dropping it with a
warning (its default since Kubernetes 1.23). Tested against tests/k8s_standin.py, not a cluster.

A name that is taken: the job there is waited for when it was created from the same body (a retried
step, a resubmission after a timeout), and is an error otherwise, so a job of other params is never
mistaken for this one. The body's SHA-256 rides along as an annotation (``BODY_HASH``) to tell them apart.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fairvision.errors import FairvisionError
from fairvision.params import load_params
from fairvision.pipeline.k8s import PipelineRun, training_job
from fairvision.pipeline.k8s_names import MAX_RUN_NAME, run_names
from fairvision.pipeline.k8s_params import load_kubernetes
from fairvision.pipeline.step_pod import step_pod

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.client.exceptions import ApiException

BODY_HASH = "fairvision/body-sha256"
# Per kind, the condition types (status "True") that end a job: success, failure. Training Operator v1's
# JobCondition types are Created, Running, Restarting, Succeeded, Failed (and Suspended); Kubeflow Trainer v2's
# TrainJob has Suspended, Complete and Failed, Complete and Failed copied from its JobSet's.
_ENDS = {"TFJob": ("Succeeded", "Failed"), "TrainJob": ("Complete", "Failed")}
# What usually lies behind an API error while creating or reading a job.
_HINTS = {
    401: "the cluster does not accept the credentials in use",
    403: "the account in use may not do this: it needs `create` and `get` on the job's resource in its namespace",
    404: "is the operator installed (its CRD), and the namespace created (k8s/namespace.yaml)?",
}
_log = logging.getLogger("fairvision")


@dataclasses.dataclass(frozen=True)
class _Job:
    """Where a job lives in the API: the custom-object coordinates the client's calls take."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Job:
        group, version = body["apiVersion"].split("/")
        return cls(group, version, body["kind"], body["metadata"]["namespace"], body["metadata"]["name"])

    @property
    def plural(self) -> str:
        return f"{self.kind.lower()}s"  # tfjobs, trainjobs

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def submit_training(params_path: str | os.PathLike[str], dataset: str, backbone: str, *, timeout: float,
                    poll: float, kubeconfig: str | None = None) -> dict[str, Any]:
    """Run one dataset × backbone's training job, as params.yaml's `kubernetes` section makes it, to its end.

    Args:
        params_path: the params file (its `kubernetes` section, `datasets` and `backbones`).
        dataset, backbone: keys of its `datasets` and `backbones`.
        timeout, poll: seconds to wait for the job in all, and between two reads of its status.
        kubeconfig: see ``api_client``.

    Returns:
        The finished job as the API server holds it.

    Raises:
        FairvisionError: a bad params value or key, no cluster configuration, the API server's refusal, the
            job's failure (its condition's reason and message), or the timeout.
    """
    name = _run_name(params_path, dataset, backbone)
    body = training_job(load_kubernetes(params_path), name, dataset, backbone).body
    return run_job(body, api_client(kubeconfig), timeout=timeout, poll=poll)


def train_in_job(workspace: str, params_file: str, dataset: str, backbone: str, seed: int, *, timeout: float,
                 poll: float) -> dict[str, Any]:
    """Train one seed as a Kubeflow job beside the pipeline step that calls this, on the run's workspace.

    What the pipeline's train step does when the run's `training` input is `job`: the job
    (`kubernetes.train.operator` of the run's parameter file ``params_file``, relative to ``workspace``) mounts
    the step's workspace claim, works there with that file, and writes the model where the step would have;
    it runs in the step's namespace as the step's service account. Its name is the dataset × backbone's with a
    suffix for the run (the claim) and seed, so a retried step waits for its job instead of starting another.
    Raises FairvisionError as ``submit_training`` does, or when the step's pod cannot be read (``step_pod``).
    """
    path = Path(workspace) / params_file
    base = _run_name(path, dataset, backbone)
    api = api_client()
    pod = step_pod(api, workspace)
    suffix = hashlib.sha256(f"{pod.namespace}/{pod.claim}/{seed}".encode("utf-8")).hexdigest()[:8]
    name = f"{base[:MAX_RUN_NAME - len(suffix) - 1].rstrip('-')}-{suffix}"
    run = PipelineRun(namespace=pod.namespace, service_account=pod.service_account, claim=pod.claim,
                      path=workspace, params_file=params_file, seed=seed)
    body = training_job(load_kubernetes(path), name, dataset, backbone, run).body
    return run_job(body, api, timeout=timeout, poll=poll)


def _run_name(params_path: str | os.PathLike[str], dataset: str, backbone: str) -> str:
    """The dataset × backbone's Kubernetes name (``k8s_names.run_names``), checked against the params file."""
    source = str(params_path)
    params = load_params(params_path)
    names = run_names(params.datasets, params.backbones, source)
    if (dataset, backbone) not in names:
        raise FairvisionError(f"{source}: no training job for dataset {dataset!r} and backbone {backbone!r}: "
                              f"`datasets` has {', '.join(params.datasets)}; `backbones` has "
                              f"{', '.join(params.backbones)}")
    return names[(dataset, backbone)]


def api_client(kubeconfig: str | None = None) -> ApiClient:
    """A client for the cluster, found as kubectl finds it: ``kubeconfig``, else $KUBECONFIG or ~/.kube/config;
    in a pod given neither (a pipeline step), the pod's service account (in-cluster config)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    in_pod = kubeconfig is None and "KUBECONFIG" not in os.environ and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if in_pod:
            config.load_incluster_config(client_configuration=configuration)
        else:
            # The client reads $KUBECONFIG once, on import: read it now.
            config.load_kube_config(config_file=kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config"),
                                    client_configuration=configuration, persist_config=False)
    except (config.ConfigException, yaml.YAMLError, OSError) as error:  # missing, unreadable or not YAML
        where = "the pod's service account" if in_pod else kubeconfig or "$KUBECONFIG or ~/.kube/config"
        reason = error if isinstance(error, config.ConfigException) else f"unreadable ({type(error).__name__})"
        raise FairvisionError(f"no Kubernetes cluster configuration in {where}: {reason}") from None
    return client.ApiClient(configuration)


def run_job(body: dict[str, Any], api: ApiClient, *, timeout: float, poll: float) -> dict[str, Any]:
    """Create ``body`` (a TFJob or TrainJob) and wait until it succeeds, fails or ``timeout`` seconds pass.

    Each change of the job's latest condition is logged. Returns the finished job; raises FairvisionError
    as ``submit_training`` says. A job that times out is left running: submitting it again waits for it.
    """
    from urllib3.exceptions import HTTPError

    job = _Job.of(body)
    deadline = time.monotonic() + timeout
    try:
        _create(api, job, _stamped(body))
        return _wait(api, job, deadline, timeout, poll)
    except HTTPError as error:
        raise FairvisionError(f"{job}: cannot reach the Kubernetes API server at {api.configuration.host} "
                              f"({type(error).__name__}: {error})") from None


def _stamped(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its own SHA-256 as an annotation, by which a later submission recognises it."""
    stamped = copy.deepcopy(body)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
    stamped["metadata"].setdefault("annotations", {})[BODY_HASH] = digest
    return stamped


def _create(api: ApiClient, job: _Job, body: dict[str, Any]) -> None:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    try:
        CustomObjectsApi(api).create_namespaced_custom_object(job.group, job.version, job.namespace, job.plural,
                                                              body, field_validation="Strict")
    except ApiException as error:
        if error.status != 409:
            raise _api_error(f"could not create {job}", error) from None
        there = _get(api, job).get("metadata", {}).get("annotations", {}).get(BODY_HASH)
        if there != body["metadata"]["annotations"][BODY_HASH]:
            raise FairvisionError(f"{job} already exists, not submitted from this body (but by `kubectl apply`, or "
                                  "from other params, image or fairvision version): delete it first (`kubectl "
                                  f"delete {job.kind.lower()} -n {job.namespace} {job.name}`)") from None
        _log.info("%s: already exists, created from this same body: waiting for it", job)
        return
    _log.info("%s: created", job)


def _get(api: ApiClient, job: _Job) -> dict[str, Any]:
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client.exceptions import ApiException

    try:
        return CustomObjectsApi(api).get_namespaced_custom_object(job.group, job.version, job.namespace,
                                                                  job.plural, job.name)
    except ApiException as error:
        if error.status == 404:
            raise FairvisionError(f"{job} is gone: deleted while it was being waited for?") from None
        raise _api_error(f"could not read {job}", error) from None


def _wait(api: ApiClient, job: _Job, deadline: float, timeout: float, poll: float) -> dict[str, Any]:
    success, failure = _ENDS[job.kind]
    seen = None
    while True:
        current = _get(api, job)
        status = current.get("status") or {}
        true = {condition["type"]: condition for condition in status.get("conditions", [])
                if condition.get("status") == "True"}
        state = _state(true, status)
        if state != seen:
            _log.info("%s: %s", job, state)
            seen = state
        if failure in true:
            raise FairvisionError(f"{job} failed: {_words(true[failure])}")
        if success in true:
            return current
        left = deadline - time.monotonic()
        if left <= 0:
            raise FairvisionError(f"{job} did not finish within {timeout:g} s (last seen: {state}); it is left "
                                  "running: submitting it again waits for it, `kubectl delete "
                                  f"{job.kind.lower()} -n {job.namespace} {job.name}` stops it")
        time.sleep(min(poll, left))


def _state(true: dict[str, dict[str, Any]], status: dict[str, Any]) -> str:
    """The latest true condition in words; before any, a TrainJob's child jobs (Trainer v2 has no Running)."""
    if true:
        latest = list(true.values())[-1]  # operators append a condition when it changes
        return f"{latest['type']} ({_words(latest)})" if _words(latest) else latest["type"]
    jobs = "; ".join(f"{child['name']}: {child['active']} active, {child['ready']} ready, {child['succeeded']} "
                     f"succeeded, {child['failed']} failed" for child in status.get("jobsStatus", []))
    return f"no condition yet ({jobs})" if jobs else "no condition yet"


def _words(condition: dict[str, Any]) -> str:
    return ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)


def _api_error(doing: str, error: ApiException) -> FairvisionError:
    """The API server's own words (its Status message names the field at fault), with what usually causes them."""
    try:
        message = json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        message = error.body or error.reason
    hint = f" ({_HINTS[error.status]})" if error.status in _HINTS else ""
    return FairvisionError(f"{doing}: the API server answered {error.status} {error.reason}: {message}{hint}")
