"""Every Kubernetes manifest fairvision needs, as plain dicts built from params.yaml's `kubernetes` section.

Generated rather than hand-written so that a new backbone, dataset, image or resource size is one
edit of params.yaml, and so that tests can validate each object offline against the real schemas
(tests/test_k8s.py). Per dataset D × backbone B: a training job (a TFJob, or a TrainJob on a
ClusterTrainingRuntime) and a KServe InferenceService serving the first seed's model; around them
the namespace, the ServiceAccount and S3 Secret KServe downloads models with, the checkpoint volume
and a kustomization.yaml. Writing them is ``k8s_files``' job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fairvision.layout import run_name
from fairvision.params import Params
from fairvision.pipeline.k8s_params import Kubernetes, Resources
from fairvision.pipeline.k8s_names import run_names

SERVICE_ACCOUNT = "fairvision"
SECRET = "fairvision-s3"  # README: `kubectl create secret generic fairvision-s3 ...`
PLACEHOLDER = "REPLACE_ME"  # secret-s3.yaml holds no credentials, ever
RUNTIME = "fairvision-tensorflow"  # the ClusterTrainingRuntime every TrainJob refers to
KUSTOMIZATION = "kustomization.yaml"
SECRET_FILE = "secret-s3.yaml"
CHECKPOINT_ENV = "FAIRVISION_CHECKPOINT_DIR"
CHECKPOINT_MOUNT = "/var/fairvision/checkpoints"
MODEL_MOUNT = "/mnt/models"  # where KServe's storage initializer puts what STORAGE_URI names
PORT = 8080  # KServe's default port for a custom predictor; its metrics are scraped there too
PART_OF = {"app.kubernetes.io/part-of": "fairvision"}
RUN_ANNOTATION = "fairvision/run"  # the params.yaml keys an object was made from: <D>/<B>


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """Where a pipeline run's training job runs: beside the run's steps, on their workspace volume.

    A job submitted from a pipeline step (``jobs.train_in_job``) trains one seed in the run's workspace (the
    step's PersistentVolumeClaim, mounted at the step's path and worked in), with the run's parameter file, in
    the step's namespace and as its service account; its checkpoints stay in the workspace, which every
    worker mounts. Without one (`fairvision k8s`), a job runs in `kubernetes.namespace` on the image's
    working directory and keeps its checkpoints on `kubernetes.checkpoints.pvc`.
    """

    namespace: str
    service_account: str
    claim: str  # the workspace's PersistentVolumeClaim
    path: str  # where the steps mount it: the project folder of the run
    params_file: str  # relative to ``path``
    seed: int


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One file's object, and what a reader of that file needs to know (comments under the generated-file line)."""

    body: dict[str, Any]
    notes: str = ""


def manifests(params: Params, k8s: Kubernetes, source: str) -> dict[str, Manifest]:
    """Every file of k8s/ by name, in name order, the kustomization listing the others.

    Args:
        params: the loaded params.yaml; its `datasets`, `backbones` and `train.seeds`.
        k8s: its `kubernetes` section (``k8s_params.load_kubernetes``).
        source: the params file's path, for error messages.

    Raises:
        FairvisionError: a dataset or backbone name that makes no valid Kubernetes name (see
            ``k8s_names.run_names``), naming the key.
    """
    names = run_names(params.datasets, params.backbones, source)
    files = {
        "namespace.yaml": Manifest({"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": k8s.namespace, "labels": dict(PART_OF)}}),
        "serviceaccount.yaml": _service_account(k8s),
        SECRET_FILE: _secret(k8s),
        "pvc-checkpoints.yaml": _checkpoints(k8s),
    }
    if k8s.train.operator == "trainjob":
        files["clustertrainingruntime.yaml"] = _runtime(k8s)
    seed = params.train.seeds[0]
    for (dataset, backbone), name in names.items():
        files[f"{k8s.train.operator}-{name}.yaml"] = training_job(k8s, name, dataset, backbone)
        files[f"inferenceservice-{name}.yaml"] = _inference_service(k8s, name, dataset, backbone, seed)
    files[KUSTOMIZATION] = _kustomization(sorted(files))
    return dict(sorted(files.items()))


def _metadata(k8s: Kubernetes, name: str, component: str | None = None, dataset: str | None = None,
              backbone: str | None = None, run: PipelineRun | None = None) -> dict[str, Any]:
    labels = {**PART_OF, "app.kubernetes.io/component": component} if component else dict(PART_OF)
    metadata: dict[str, Any] = {"name": name, "namespace": k8s.namespace if run is None else run.namespace,
                                "labels": labels}
    if dataset is not None and backbone is not None:
        metadata["annotations"] = {RUN_ANNOTATION: run_name(dataset, backbone)
                                   + ("" if run is None else f"/seed-{run.seed}")}
    return metadata


def _service_account(k8s: Kubernetes) -> Manifest:
    return Manifest({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(k8s, SERVICE_ACCOUNT),
                     "secrets": [{"name": SECRET}]},
                    "Training pods and KServe's storage initializer run as it; KServe reads the S3 credentials "
                    f"from the Secret it lists ({SECRET}).")


def _secret(k8s: Kubernetes) -> Manifest:
    metadata = _metadata(k8s, SECRET)
    if k8s.storage.endpoint is not None:  # KServe's S3 settings for a non-AWS server; AWS needs none
        scheme, host = k8s.storage.endpoint.split("://", 1)
        metadata["annotations"] = {"serving.kserve.io/s3-endpoint": host,
                                   "serving.kserve.io/s3-usehttps": "1" if scheme == "https" else "0"}
    return Manifest({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque",
                     "stringData": {"AWS_ACCESS_KEY_ID": PLACEHOLDER, "AWS_SECRET_ACCESS_KEY": PLACEHOLDER}},
                    "A template with placeholders, never credentials, left out of kustomization.yaml so that "
                    "`kubectl apply -k` never overwrites the real Secret: create that with the README's "
                    f"`kubectl create secret generic {SECRET} ...` line, or fill in a copy of this file and apply "
                    "the copy (never commit it).")


def _checkpoints(k8s: Kubernetes) -> Manifest:
    return Manifest({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": _metadata(k8s, k8s.checkpoints.pvc, "training"),
                     "spec": {"accessModes": ["ReadWriteMany"],
                              "resources": {"requests": {"storage": k8s.checkpoints.size}}}},
                    "The training checkpoints every worker mounts: ReadWriteMany, as workers run on several "
                    "nodes, so the cluster's default storage class must offer it (NFS, CephFS, EFS, ...).")


def _resources(resources: Resources) -> dict[str, Any]:
    """Requests equal to limits: a GPU must be, and equal CPU and memory keep a job's speed predictable."""
    amounts: dict[str, Any] = {"cpu": resources.cpu, "memory": resources.memory}
    if resources.gpu:
        amounts["nvidia.com/gpu"] = resources.gpu
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _train_command(dataset: str, backbone: str, run: PipelineRun | None) -> list[str]:
    command = ["fairvision", "train", backbone, "--dataset", dataset]
    return command if run is None else [*command, "--seed", str(run.seed), "--params", run.params_file]


_CHECKPOINT_VOLUME = "checkpoints"
_WORKSPACE_VOLUME = "workspace"
_TRAIN_NOTES = (
    "Every worker runs `fairvision train` (each seed of train.seeds in turn) in the image's working directory, "
    "which must hold params.yaml and data/prepared/<D>/ (as `dvc pull` leaves them). Checkpoints: the "
    f"PersistentVolumeClaim is mounted at {CHECKPOINT_MOUNT} on every worker and named by {CHECKPOINT_ENV}, so "
    "that a restarted job resumes from state every worker reads. `fairvision train` keeps its per-epoch state "
    "there (<D>/<B>/seed-<S>/ below it): only the chief writes it, every worker resumes from it, and workers "
    "that find other state than the chief's stop with an error instead of training apart."
)
_Volumes = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def _volumes(k8s: Kubernetes, run: PipelineRun | None) -> _Volumes:
    """A training worker's volumes, their mounts and its environment: the checkpoint volume, or a pipeline
    run's workspace (which holds the checkpoints at the stages' default place, .fairvision/checkpoints/)."""
    if run is None:
        return ([{"name": _CHECKPOINT_VOLUME, "persistentVolumeClaim": {"claimName": k8s.checkpoints.pvc}}],
                [{"name": _CHECKPOINT_VOLUME, "mountPath": CHECKPOINT_MOUNT}],
                [{"name": CHECKPOINT_ENV, "value": CHECKPOINT_MOUNT}])
    return ([{"name": _WORKSPACE_VOLUME, "persistentVolumeClaim": {"claimName": run.claim}}],
            [{"name": _WORKSPACE_VOLUME, "mountPath": run.path}], [])


def _tfjob(k8s: Kubernetes, name: str, dataset: str, backbone: str, run: PipelineRun | None) -> Manifest:
    train = k8s.train
    volumes, mounts, env = _volumes(k8s, run)
    # The Training Operator sets TF_CONFIG in the container named `tensorflow`.
    container: dict[str, Any] = {"name": "tensorflow", "image": k8s.image,
                                 "command": _train_command(dataset, backbone, run)}
    if run is not None:
        container["workingDir"] = run.path
    container.update({"env": env, "resources": _resources(train.resources), "volumeMounts": mounts})
    pod = {"serviceAccountName": SERVICE_ACCOUNT if run is None else run.service_account,
           "containers": [container], "volumes": volumes}
    return Manifest({
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
        "metadata": _metadata(k8s, name, "training", dataset, backbone, run),
        "spec": {
            "runPolicy": {"backoffLimit": train.backoff_limit,
                          "ttlSecondsAfterFinished": train.ttl_seconds_after_finished,
                          "cleanPodPolicy": train.clean_pod_policy},
            # Workers only: worker 0 is MultiWorkerMirroredStrategy's chief. A failed worker restarts in place
            # (runPolicy.backoffLimit counts the restarts) and resumes from the shared checkpoint.
            "tfReplicaSpecs": {"Worker": {"replicas": train.workers, "restartPolicy": "OnFailure",
                                          "template": {"spec": pod}}},
        },
    }, f"Training Operator v1 (kubeflow.org/v1 TFJob): params.yaml `kubernetes.train.operator: tfjob`. {_TRAIN_NOTES}")


def _runtime(k8s: Kubernetes) -> Manifest:
    train = k8s.train
    labels = {"JOBSET_NAME": "jobset-name", "REPLICATED_JOB_NAME": "replicatedjob-name"}  # JobSet labels, not env
    node = {"name": "node", "image": k8s.image,  # Trainer v2 overrides the container named `node` from a TrainJob
            "env": [{"name": name, "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.labels['jobset.sigs.k8s.io/{label}']"}}} for name, label in labels.items()]}
    return Manifest({
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
        "metadata": {"name": RUNTIME, "labels": {**PART_OF, "trainer.kubeflow.org/framework": "tensorflow"}},
        "spec": {
            "mlPolicy": {"numNodes": train.workers},
            "template": {"spec": {
                # A failed node fails its Job at once (no pod restarts), and JobSet then recreates every node, so
                # all of them resume together from the shared checkpoint.
                "failurePolicy": {"maxRestarts": train.backoff_limit},
                "ttlSecondsAfterFinished": train.ttl_seconds_after_finished,
                "network": {"enableDNSHostnames": True},  # the host names the strategy derives its cluster from
                "replicatedJobs": [{
                    "name": "node",
                    "template": {
                        "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                        "spec": {"backoffLimit": 0, "template": {"spec": {
                            "serviceAccountName": SERVICE_ACCOUNT, "restartPolicy": "Never",
                            "containers": [node]}}},
                    },
                }],
            }},
        },
    }, "Kubeflow Trainer v2's runtime for fairvision's TrainJobs: a JobSet of `numNodes` nodes running the image. "
       "Cluster-scoped, so it has no namespace and names no volume: each TrainJob adds its own (the checkpoint "
       "volume, or a pipeline run's workspace) through `runtimePatches`. Trainer v2 sets no TF_CONFIG: the strategy derives "
       "it from the JobSet's environment (JOBSET_NAME and REPLICATED_JOB_NAME from the pod's labels, "
       "JOB_COMPLETION_INDEX from Kubernetes, FAIRVISION_NUM_NODES from the TrainJob).")


def _trainjob(k8s: Kubernetes, name: str, dataset: str, backbone: str, run: PipelineRun | None) -> Manifest:
    volumes, mounts, env = _volumes(k8s, run)
    command = _train_command(dataset, backbone, run)
    if run is not None:  # a TrainJob cannot set the container's workingDir: the command moves there first
        command = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', run.path, *command]
    pod: dict[str, Any] = {"containers": [{"name": "node", "volumeMounts": mounts}], "volumes": volumes}
    if run is not None:
        pod["serviceAccountName"] = run.service_account
    return Manifest({
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": _metadata(k8s, name, "training", dataset, backbone, run),
        "spec": {
            "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime", "name": RUNTIME},
            "trainer": {"image": k8s.image, "command": command,
                        "numNodes": k8s.train.workers, "resourcesPerNode": _resources(k8s.train.resources),
                        # No label or variable carries the node count; Trainer copies this into the `node` container.
                        "env": [{"name": "FAIRVISION_NUM_NODES", "value": str(k8s.train.workers)}, *env]},
            # The runtime names no volume (it is cluster-wide): this job's, on the runtime's one replicated job.
            "runtimePatches": [{"manager": "fairvision", "trainingRuntimeSpec": {"template": {"spec": {
                "replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": pod}}}}]}}}}],
        },
    }, f"Kubeflow Trainer v2 (trainer.kubeflow.org/v1alpha1 TrainJob) on clustertrainingruntime.yaml's {RUNTIME}: "
       f"params.yaml `kubernetes.train.operator: trainjob`. {_TRAIN_NOTES}")


_JOBS = {"tfjob": _tfjob, "trainjob": _trainjob}  # params.yaml `kubernetes.train.operator` -> its job's builder


def training_job(k8s: Kubernetes, name: str, dataset: str, backbone: str,
                 run: PipelineRun | None = None) -> Manifest:
    """One dataset × backbone's training job, named ``name``: the TFJob or TrainJob `kubernetes.train.operator` says;
    with ``run``, one seed of it in a pipeline run's workspace (see ``PipelineRun``).

    Public for ``jobs``, which submits the very object k8s/ holds (or, from a pipeline step, its ``run`` form).
    """
    return _JOBS[k8s.train.operator](k8s, name, dataset, backbone, run)


def _inference_service(k8s: Kubernetes, name: str, dataset: str, backbone: str, seed: int) -> Manifest:
    uri = f"{k8s.storage.prefix}/models/{dataset}/{backbone}"  # the layout of models/ under the prefix
    metadata = _metadata(k8s, name, "serving", dataset, backbone)
    predictor: dict[str, Any] = {"serviceAccountName": SERVICE_ACCOUNT}
    serves = (f"It serves the newest numbered version under {uri}/ (TF Serving and KServe's TensorFlow runtime load "
              f"only <base>/<version>/saved_model.pb): `fairvision publish-model {backbone} --dataset {dataset}` "
              f"puts the first seed's model (models/{dataset}/{backbone}/seed-{seed}/) there as the next version. "
              f"Model name in the URLs: {name}.")
    if k8s.serve.runtime == "tensorflow":
        predictor["model"] = {"modelFormat": {"name": "tensorflow"}, "storageUri": uri,
                              "resources": _resources(k8s.serve.resources)}
        notes = f"KServe's TensorFlow Serving runtime (params.yaml `kubernetes.serve.runtime: tensorflow`). {serves}"
    else:
        probe = {"httpGet": {"path": "/v2/health/live", "port": PORT}, "periodSeconds": 10}
        predictor["containers"] = [{
            "name": "kserve-container", "image": k8s.image,
            # The newest numbered version under the mount, as TF Serving's runtime picks it.
            "command": ["fairvision", "serve", MODEL_MOUNT, "--host", "0.0.0.0", "--port", str(PORT), "--name", name],
            "env": [{"name": "STORAGE_URI", "value": uri}],  # KServe's storage initializer downloads it first
            "ports": [{"containerPort": PORT, "protocol": "TCP"}],
            # The server loads and warms the model before it listens: the start-up probe waits up to 5 minutes.
            "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
            "livenessProbe": probe,
            "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": PORT}, "periodSeconds": 10},
            "resources": _resources(k8s.serve.resources),
        }]
        metadata["annotations"].update({"serving.kserve.io/enable-prometheus-scraping": "true",
                                        "prometheus.kserve.io/port": str(PORT),
                                        "prometheus.kserve.io/path": "/metrics"})
        notes = ("A custom predictor running `fairvision serve` from the image (params.yaml `kubernetes.serve.runtime: "
                 "fairvision`): TF Serving's REST API and KServe's V2 protocol, with Prometheus metrics at /metrics. "
                 f"{serves}")
    return Manifest({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": metadata,
                     "spec": {"predictor": predictor}}, notes)


def _kustomization(files: list[str]) -> Manifest:
    return Manifest({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [name for name in files if name != SECRET_FILE]},
                    f"`kubectl apply -k k8s/` applies every file here but {SECRET_FILE} (see that file) and "
                    "pipeline.yaml, `fairvision pipeline compile`'s: a pipeline to upload to Kubeflow Pipelines, not "
                    "a Kubernetes object.")
