"""The Kubeflow and KServe CRDs' JSON schemas in ../shared/k8s-schemas (read there, never copied into the
repository), for tests that validate generated objects and the stand-in API server's requests."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from params_file import ROOT

SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
CRD_SCHEMAS = {  # (apiVersion, kind) -> its CRD's schema in SCHEMAS
    ("kubeflow.org/v1", "TFJob"): "tfjob_v1.json",
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): "trainjob_v1alpha1.json",
    ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"): "clustertrainingruntime_v1alpha1.json",
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice_v1beta1.json",
}
needs_schemas = pytest.mark.skipif(not SCHEMAS.is_dir(), reason=f"{SCHEMAS} is absent: the CRD schemas live there")


def crd_errors(body: dict[str, Any]) -> list[str]:
    """Every violation of ``body``'s CRD schema, as `path: message`."""
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(body["apiVersion"], body["kind"])]).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def misspell(body: dict[str, Any], path: str, wrong: str) -> dict[str, Any]:
    """A copy of ``body`` with the field at dotted ``path`` renamed to ``wrong``."""
    body = copy.deepcopy(body)
    *parents, key = path.split(".")
    node: Any = body
    for parent in parents:
        node = node[int(parent)] if isinstance(node, list) else node[parent]
    node[wrong] = node.pop(key)
    return body
