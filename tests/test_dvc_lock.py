"""The committed dvc.lock matches the committed code and params, and running the tests touched neither.

`dvc status` in the repository may report outputs that are not there (a fresh clone has no data,
models or reports until `dvc repro` or `dvc pull`), but never a code dependency, a parameter or
a command that differs from dvc.lock: that would mean a stage's recorded result no longer
describes its code, or that the test suite itself changed something a stage depends on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_lock_describes_the_code_and_params() -> None:
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout or "{}")
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    produced = {out["path"] for stage in lock.values() for out in stage.get("outs", [])}
    stale = []
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):  # "changed command", "always changed"
                stale.append((stage, change))
                continue
            for path, how in change.get("changed deps", {}).items():
                if not any(path == out or path.startswith(out + "/") or out.startswith(path + "/") for out in produced):
                    stale.append((stage, path, how))  # code or params; other stages' outputs may be absent here
            stale += [(stage, name, how) for name, how in change.get("changed params", {}).items()]
    assert not stale, f"dvc.lock is out of date (run `dvc repro` and commit dvc.lock): {stale}"


def test_dvc_lock_holds_exactly_the_stages_of_dvc_yaml() -> None:
    """DVC never prunes dvc.lock: a stage renamed or removed from dvc.yaml (the single-dataset `train@small_cnn` of
    before the datasets matrix) stays recorded, describing outputs no stage makes any more."""
    result = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    assert result.returncode == 0, result.stderr
    stages = set(result.stdout.split())
    recorded = set(yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"])
    assert not recorded - stages, f"dvc.lock records stages dvc.yaml no longer has: {sorted(recorded - stages)}"
    assert not stages - recorded, f"dvc.yaml stages never reproduced into dvc.lock: {sorted(stages - recorded)}"
