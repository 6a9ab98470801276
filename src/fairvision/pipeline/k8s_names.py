"""Kubernetes names for params.yaml's datasets and backbones, checked before any manifest is built.

`small_cnn+reweighing` cannot name a Kubernetes object (names are lower-case letters, digits and
`-`), so each key is lower-cased with `_` and `+` written as `-`, and each dataset × backbone is
named `<dataset>-<backbone>`. Two keys that come out the same, or a name a controller would refuse,
stop `fairvision k8s` naming the keys at fault, before any file is written.
"""

from __future__ import annotations

import re
from typing import Iterable

from fairvision.errors import FairvisionError
from fairvision.pipeline.k8s_params import DNS_LABEL

# Objects named after a run must be RFC 1035 labels (a letter first): KServe and Trainer v2 reject others, and
# the operators name Services after them. 47 = 63 less the longest suffix a controller adds to the name (KServe's
# predictor revision, `<name>-predictor-00001`).
MAX_RUN_NAME = 47
_RUN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def kubernetes_name(key: str) -> str:
    """``key`` as it appears in object names: lower-case, `_` and `+` as `-`."""
    return key.lower().replace("_", "-").replace("+", "-")


def run_names(datasets: Iterable[str], backbones: Iterable[str], source: str) -> dict[tuple[str, str], str]:
    """(dataset, backbone) -> the name of its training job and InferenceService.

    Raises:
        FairvisionError: a key that maps to no valid name, two keys that map to one, or a name too long;
            the message names the params.yaml keys.
    """
    dataset_parts = _parts("datasets", datasets, source)
    backbone_parts = _parts("backbones", backbones, source)
    names: dict[tuple[str, str], str] = {}
    owners: dict[str, tuple[str, str]] = {}
    for dataset, dataset_part in dataset_parts.items():
        for backbone, backbone_part in backbone_parts.items():
            name = f"{dataset_part}-{backbone_part}"
            keys = f"`datasets.{dataset}` × `backbones.{backbone}`"
            if not _RUN.fullmatch(name):
                raise FairvisionError(f"{source}: {keys} would name objects `{name}`, which must start with a "
                                      "letter (KServe and Kubeflow Trainer refuse other names): rename the dataset")
            if len(name) > MAX_RUN_NAME:
                raise FairvisionError(f"{source}: {keys} would name objects `{name}` ({len(name)} characters); "
                                      f"at most {MAX_RUN_NAME} leave room for the suffixes controllers add to it")
            if name in owners:
                other = owners[name]
                raise FairvisionError(f"{source}: `datasets.{other[0]}` × `backbones.{other[1]}` and {keys} "
                                      f"would both name objects `{name}`")
            owners[name] = (dataset, backbone)
            names[(dataset, backbone)] = name
    return names


def _parts(section: str, keys: Iterable[str], source: str) -> dict[str, str]:
    """Each key's Kubernetes form, unique within ``section``."""
    parts: dict[str, str] = {}
    for key in keys:
        part = kubernetes_name(key)
        if not DNS_LABEL.fullmatch(part):
            raise FairvisionError(f"{source}: `{section}.{key}` becomes `{part}` in Kubernetes names, which must be "
                                  "lower-case letters, digits and `-`, starting and ending with a letter or digit")
        clash = next((other for other, seen in parts.items() if seen == part), None)
        if clash is not None:
            raise FairvisionError(f"{source}: `{section}.{clash}` and `{section}.{key}` both become `{part}` in "
                                  "Kubernetes names: rename one")
        parts[key] = part
    return parts
