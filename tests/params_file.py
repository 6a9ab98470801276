"""A changed copy of the repository's params.yaml, for tests that give a command other values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_params(folder: Path, change: dict[str, Any]) -> Path:
    """Write ``folder``/params.yaml: the repository's, with each dotted key set (a value of ``...`` deletes it)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        if value is ...:
            del node[key]
        else:
            node[key] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
