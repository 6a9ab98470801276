"""What a pipeline step learns about itself from the API server: its namespace, service account and the volume
claim behind its workspace, which the training job it submits must share.

Kubeflow Pipelines claims a run's workspace volume itself and names the claim after the run, so no
parameter can carry it: the step reads its own pod. The pod's name comes from KFP_POD_NAME (Kubeflow
Pipelines sets it in every step's container) or else the host name, which Kubernetes sets to it; the
namespace from KFP_POD_NAMESPACE or the service account's namespace file every pod has mounted.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from fairvision.errors import FairvisionError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclasses.dataclass(frozen=True)
class StepPod:
    namespace: str
    service_account: str
    claim: str  # the PersistentVolumeClaim mounted at the workspace's path


def step_pod(api: ApiClient, workspace: str, environment: Mapping[str, str] = os.environ) -> StepPod:
    """The pod this step runs in, and the claim it mounts at ``workspace``.

    Raises:
        FairvisionError: not in a pod, a pod the account may not read, or no volume claim at ``workspace``
            (the pipeline compiled for a local folder, or a workspace that is not a PersistentVolumeClaim).
    """
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    name = environment.get("KFP_POD_NAME") or socket.gethostname()
    namespace = environment.get("KFP_POD_NAMESPACE") or _namespace_file()
    try:
        pod = CoreV1Api(api).read_namespaced_pod(name, namespace)
    except ApiException as error:
        raise FairvisionError(f"cannot read this step's pod {namespace}/{name} to find its workspace volume: the API "
                              f"server answered {error.status} {error.reason} (the step's service account needs "
                              "`get` on pods in its namespace)") from None
    mounted = {mount.name for container in pod.spec.containers for mount in container.volume_mounts or ()
               if os.path.normpath(mount.mount_path) == os.path.normpath(workspace)}
    claims = [volume.persistent_volume_claim.claim_name for volume in pod.spec.volumes or ()
              if volume.name in mounted and volume.persistent_volume_claim is not None]
    if len(claims) != 1:
        raise FairvisionError(f"pod {namespace}/{name} mounts no PersistentVolumeClaim at the workspace {workspace}: "
                              "training as a Kubeflow job needs the pipeline's workspace volume (compile the pipeline "
                              "with `fairvision pipeline compile`, not for a local folder)")
    return StepPod(namespace=namespace, service_account=pod.spec.service_account_name or "default", claim=claims[0])


def _namespace_file() -> str:
    try:
        return NAMESPACE_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        raise FairvisionError(f"training as a Kubeflow job runs from a pipeline step in a Kubernetes pod: found neither "
                              f"KFP_POD_NAMESPACE nor {NAMESPACE_FILE}") from None
