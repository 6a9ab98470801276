"""`fairvision k8s`: every manifest generated from params.yaml, current in k8s/, and valid offline.

No Kubernetes API server can run here, so validity means: built-in kinds pass kubernetes-validate's
strict schemas (unknown fields rejected), and the Kubeflow and KServe objects pass their CRDs' JSON
schemas in ../shared/k8s-schemas (read in place; those tests skip where the folder is absent).
Nothing here has been applied to a cluster.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from fairvision.cli import main
from fairvision.pipeline.k8s import PLACEHOLDER, SECRET_FILE
from fairvision.pipeline.k8s_files import HEADER, is_generated
from k8s_schemas import CRD_SCHEMAS, SCHEMAS, crd_errors, misspell, needs_schemas
from params_file import ROOT, write_params

KUSTOMIZE = ("kustomize.config.k8s.io/v1beta1", "Kustomization")  # read by kubectl, not an API object
KUBERNETES_VERSIONS = ("1.31", "1.37")  # kubernetes-validate bundles schemas up to its own version (1.37)
VARIANTS = {"tfjob, tensorflow": {}, "trainjob, fairvision": {"kubernetes.train.operator": "trainjob",
                                                               "kubernetes.serve.runtime": "fairvision"}}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # RFC 1123, at most 63 characters
RFC_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # TrainJob's CEL rule; KServe's name check


def generate(folder: Path, change: dict[str, Any] | None = None) -> tuple[int, Path]:
    """Run `fairvision k8s` on a changed copy of params.yaml; the exit status and the output folder."""
    out = folder / "k8s"
    return main(["k8s", "--params", str(write_params(folder, change or {})), "--out", str(out)]), out


def objects(out: Path) -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(out.glob("*.yaml"))}


@pytest.fixture(scope="module", params=VARIANTS, ids=list(VARIANTS))
def generated_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    status, out = generate(tmp_path_factory.mktemp("k8s"), VARIANTS[request.param])
    assert status == 0
    return out


@pytest.fixture(scope="module")
def generated(generated_folder: Path) -> dict[str, dict[str, Any]]:
    return objects(generated_folder)


def test_committed_k8s_is_current(tmp_path: Path) -> None:
    status, out = generate(tmp_path)
    assert status == 0
    fresh = {path.name: path.read_text() for path in out.iterdir()}
    folder = ROOT / "k8s"
    committed = {path.name: path.read_text() for path in folder.glob("*") if path.is_file() and is_generated(path)}
    assert sorted(committed) == sorted(fresh), "k8s/ is stale: run `fairvision k8s` and commit k8s/"
    for name, text in fresh.items():
        assert committed[name] == text, f"k8s/{name} is stale: run `fairvision k8s` and commit k8s/"


def test_every_file_is_one_object_under_the_generated_file_line(generated_folder: Path) -> None:
    texts = {path.name: path.read_text() for path in generated_folder.iterdir()}
    assert "namespace.yaml" in texts and "kustomization.yaml" in texts
    for name, text in texts.items():
        assert name.endswith(".yaml") and text.startswith(HEADER + "\n"), name
        bodies = list(yaml.safe_load_all(text))
        assert len(bodies) == 1 and {"apiVersion", "kind"} <= set(bodies[0]), name
        assert "&id" not in text and "*id" not in text, f"{name}: YAML aliases"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_kinds_pass_kubernetes_strict_schemas(generated: dict[str, dict[str, Any]], version: str) -> None:
    built_in = {name: body for name, body in generated.items()
                if (body["apiVersion"], body["kind"]) not in {*CRD_SCHEMAS, KUSTOMIZE}}
    assert {body["kind"] for body in built_in.values()} == {"Namespace", "ServiceAccount", "Secret",
                                                            "PersistentVolumeClaim"}
    for body in built_in.values():
        kubernetes_validate.validate(body, version, strict=True)  # raises, naming the first bad field


@needs_schemas
def test_custom_resources_pass_their_crd_schemas(generated: dict[str, dict[str, Any]]) -> None:
    custom = {name: body for name, body in generated.items() if (body["apiVersion"], body["kind"]) in CRD_SCHEMAS}
    assert {body["kind"] for body in custom.values()} >= {"InferenceService"}
    assert {body["kind"] for body in custom.values()} & {"TFJob", "TrainJob"}
    for name, body in custom.items():
        errors = crd_errors(body)
        assert not errors, f"{name}: " + "; ".join(errors)
        # A CRD's schema leaves `metadata` to the API server: check it as any object's, strictly.
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": body["metadata"]},
                                     KUBERNETES_VERSIONS[-1], strict=True)


@needs_schemas
@pytest.mark.parametrize(("variant", "file", "path", "wrong"), [
    ("tfjob, tensorflow", "tfjob-synthetic-small-cnn.yaml", "spec.tfReplicaSpecs.Worker.replicas", "replcas"),
    ("tfjob, tensorflow", "tfjob-synthetic-small-cnn.yaml", "spec.runPolicy.backoffLimit", "backofLimit"),
    ("tfjob, tensorflow", "inferenceservice-synthetic-small-cnn.yaml", "spec.predictor.model.storageUri",
     "storageUrl"),
    ("trainjob, fairvision", "trainjob-synthetic-small-cnn.yaml", "spec.trainer.numNodes", "numNode"),
    ("trainjob, fairvision", "clustertrainingruntime.yaml", "spec.mlPolicy.numNodes", "nodes"),
])
def test_crd_check_rejects_a_misspelt_field(tmp_path: Path, variant: str, file: str, path: str, wrong: str) -> None:
    status, out = generate(tmp_path, VARIANTS[variant])
    assert status == 0
    body = objects(out)[file]
    assert not crd_errors(body)
    errors = crd_errors(misspell(body, path, wrong))
    assert any(f"'{wrong}' was unexpected" in error for error in errors), errors


@pytest.mark.parametrize(("file", "path", "wrong"), [
    ("secret-s3.yaml", "stringData", "stringDatta"),
    ("pvc-checkpoints.yaml", "spec.accessModes", "acessModes"),
    ("serviceaccount.yaml", "metadata.namespace", "namspace"),
])
def test_strict_check_rejects_a_misspelt_field(tmp_path: Path, file: str, path: str, wrong: str) -> None:
    status, out = generate(tmp_path)
    assert status == 0
    with pytest.raises(kubernetes_validate.ValidationError, match=f"'{wrong}' was unexpected"):
        kubernetes_validate.validate(misspell(objects(out)[file], path, wrong), KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret(generated: dict[str, dict[str, Any]]) -> None:
    resources = generated["kustomization.yaml"]["resources"]
    assert resources == sorted(resources)
    assert resources == sorted(set(generated) - {"kustomization.yaml", SECRET_FILE})


def test_names_are_kubernetes_names(generated: dict[str, dict[str, Any]]) -> None:
    """`small_cnn+reweighing` (the default backbone) names objects `synthetic-small-cnn-reweighing`."""
    runs = [body for body in generated.values() if body["kind"] in ("TFJob", "TrainJob", "InferenceService")]
    assert {body["metadata"]["name"] for body in runs} == {
        "synthetic-small-cnn", "synthetic-small-cnn-reweighing", "synthetic-mobilenet-v2"}
    for body in runs:
        assert RFC_1035.fullmatch(body["metadata"]["name"])
        assert body["metadata"]["annotations"]["fairvision/run"].startswith("synthetic/")
    for name, body in generated.items():
        if body["kind"] != "Kustomization":
            assert DNS_LABEL.fullmatch(body["metadata"]["name"]) and len(body["metadata"]["name"]) <= 63, name
            assert body["metadata"].get("namespace", "fairvision") == "fairvision", name


def test_jobs_and_predictors_carry_params_settings(tmp_path: Path) -> None:
    change = {"kubernetes.train.workers": 3, "kubernetes.train.resources.gpu": 1, "kubernetes.image": "reg:5000/fv:1",
              "kubernetes.storage.endpoint": "http://minio.storage:9000"}
    status, out = generate(tmp_path, change)
    assert status == 0
    made = objects(out)
    worker = made["tfjob-synthetic-small-cnn-reweighing.yaml"]["spec"]["tfReplicaSpecs"]["Worker"]
    container = worker["template"]["spec"]["containers"][0]
    assert worker["replicas"] == 3 and container["image"] == "reg:5000/fv:1"
    assert container["command"] == ["fairvision", "train", "small_cnn+reweighing", "--dataset", "synthetic"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["env"] == [{"name": "FAIRVISION_CHECKPOINT_DIR", "value": "/var/fairvision/checkpoints"}]
    secret = made[SECRET_FILE]
    assert set(secret["stringData"].values()) == {PLACEHOLDER}
    assert secret["metadata"]["annotations"] == {"serving.kserve.io/s3-endpoint": "minio.storage:9000",
                                                 "serving.kserve.io/s3-usehttps": "0"}
    model = made["inferenceservice-synthetic-small-cnn.yaml"]["spec"]["predictor"]["model"]
    assert model["storageUri"] == "s3://fairvision/models/synthetic/small_cnn"
    assert "nvidia.com/gpu" not in model["resources"]["limits"]


def test_custom_predictor_probes_and_scrapes_routes_the_server_has(tmp_path: Path) -> None:
    status, out = generate(tmp_path, VARIANTS["trainjob, fairvision"])
    assert status == 0
    service = objects(out)["inferenceservice-synthetic-small-cnn.yaml"]
    container = service["spec"]["predictor"]["containers"][0]
    paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    paths.add(service["metadata"]["annotations"]["prometheus.kserve.io/path"])
    server = "".join((ROOT / "src/fairvision/serve" / name).read_text() for name in ("app.py", "kserve.py"))
    served = set(re.findall(r'Route\("(/[^"]*)"', server))  # read, not imported: the server imports TensorFlow
    assert paths == {"/v2/health/live", "/v2/health/ready", "/metrics"} and paths <= served
    assert container["command"][:3] == ["fairvision", "serve", "/mnt/models"]  # the newest version under it
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}] and "--host" in container["command"]


def test_a_rewrite_keeps_other_tools_files_and_drops_stale_ones(tmp_path: Path) -> None:
    status, out = generate(tmp_path)
    assert status == 0
    (out / "pipeline.yaml").write_text("# compiled by `fairvision pipeline compile`\n")
    status, out = generate(tmp_path, {"backbones.mobilenet_v2": ...})
    assert status == 0
    assert (out / "pipeline.yaml").read_text() == "# compiled by `fairvision pipeline compile`\n"
    assert not (out / "tfjob-synthetic-mobilenet-v2.yaml").exists()
    assert "pipeline.yaml" not in objects(out)["kustomization.yaml"]["resources"]
    assert all(path.read_text().startswith(HEADER) for path in out.iterdir() if path.name != "pipeline.yaml")


@pytest.mark.parametrize(("change", "message"), [
    ({"kubernetes.train.workers": 0}, "`params.kubernetes.train.workers` must be an integer >= 1, got 0"),
    ({"kubernetes.image": "ghcr.io/fairvision/fair vision:latest"},
     "`params.kubernetes.image` must be an image reference such as ghcr.io/owner/name:tag"),
    ({"kubernetes.workspace": "ten"}, "`params.kubernetes.workspace` must be a Kubernetes quantity greater than 0"),
    ({"kubernetes.pipeline_root": "https://bucket/runs"}, "`params.kubernetes.pipeline_root` must be null or an "
                                                          "object-store prefix"),
    ({"kubernetes.train.resources.memory": "-8Gi"},
     "`params.kubernetes.train.resources.memory` must be a Kubernetes quantity greater than 0, e.g. 8Gi"),
    ({"kubernetes.serve.resources.cpu": 0}, "`params.kubernetes.serve.resources.cpu` must be a Kubernetes quantity"),
    ({"kubernetes.train.resources.gpu": -1}, "`params.kubernetes.train.resources.gpu` must be an integer >= 0"),
    ({"kubernetes.namespace": "Fair_Vision"}, "`params.kubernetes.namespace` must be a Kubernetes name"),
    ({"kubernetes.storage.prefix": "fairvision/models"}, "`params.kubernetes.storage.prefix` must be an S3 prefix"),
    ({"kubernetes.storage.endpoint": "minio:9000"}, "`params.kubernetes.storage.endpoint` must be null (AWS) or"),
    ({"kubernetes.checkpoints.size": "lots"}, "`params.kubernetes.checkpoints.size` must be a Kubernetes quantity"),
    ({"kubernetes.train.operator": "mpijob"}, "`params.kubernetes.train.operator` must be one of tfjob, trainjob"),
    ({"kubernetes.workspace_access_mode": "ReadWriteSometimes"},
     "`params.kubernetes.workspace_access_mode` must be one of ReadWriteMany, ReadWriteOnce"),
    ({"kubernetes.train.clean_pod_policy": "all"}, "`params.kubernetes.train.clean_pod_policy` must be one of None"),
    ({"kubernetes.serve.runtime": "triton"}, "`params.kubernetes.serve.runtime` must be one of tensorflow, fairvision"),
    ({"kubernetes.train.backoff_limit": ...}, "missing `params.kubernetes.train.backoff_limit`"),
    ({"kubernetes.train.resources.gpus": 1},
     "unknown key `params.kubernetes.train.resources.gpus`; known: cpu, memory, gpu"),
    ({"kubernetes": ...}, "missing `params.kubernetes` (what the manifests and the pipeline's image come from"),
    ({"backbones.small_cnn_": {"width": 8}},
     "`backbones.small_cnn_` becomes `small-cnn-` in Kubernetes names, which must be lower-case letters, digits"),
    ({"backbones.Small_CNN": {"width": 8}},
     "`backbones.small_cnn` and `backbones.Small_CNN` both become `small-cnn` in Kubernetes names"),
    ({"backbones.small_cnn+" + "x" * 40: {"width": 8}}, "characters); at most 47 leave room for the suffixes"),
    ({"datasets.7faces": {"source": {"format": "image_folder", "path": "faces"}, "target": "label", "protected": [],
                          "reference": {}, "intersections": []}},
     "`datasets.7faces` × `backbones.small_cnn` would name objects `7faces-small-cnn`, which must start with a "
     "letter"),
])
def test_bad_values_stop_before_any_file_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        change: dict[str, Any], message: str) -> None:
    status, out = generate(tmp_path, change)
    stderr = capsys.readouterr().err
    assert status == 1
    assert message in stderr and str(tmp_path / "params.yaml") in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_bad_values_leave_an_existing_folder_as_it_was(tmp_path: Path) -> None:
    status, out = generate(tmp_path)
    assert status == 0
    before = {path.name: path.read_text() for path in out.iterdir()}
    status, out = generate(tmp_path, {"kubernetes.train.workers": 0, "backbones.resnet50": {}})
    assert status == 1
    assert {path.name: path.read_text() for path in out.iterdir()} == before


def test_output_is_deterministic(tmp_path: Path) -> None:
    first, second = (generate(tmp_path / name)[1] for name in ("a", "b"))
    assert {p.name: p.read_bytes() for p in first.iterdir()} == {p.name: p.read_bytes() for p in second.iterdir()}
