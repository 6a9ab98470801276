"""`prepare@D` depends on the dataset's `source.path`; when that is `s3://bucket/prefix`, DVC must notice a
changed bucket.

Runs the real `dvc` against a real S3 server (moto on 127.0.0.1), with the endpoint and dummy
credentials in the environment, the way a user points DVC and fairvision at MinIO or AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def dvc(project: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_changed_bucket_reruns_the_stage_that_reads_it(tmp_path: Path, s3_server) -> None:
    bucket = s3_server.bucket({"export/a.jpg": b"a", "export/_annotations.json": b"{}"})
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc(project, "init", "-q")
    (project / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    cmd: python -c \"open('out.txt', 'w').write('x')\"\n"
        f"    deps:\n      - s3://{bucket}/export\n    outs:\n      - out.txt\n")
    dvc(project, "repro", "-q")
    assert "up to date" in dvc(project, "status")
    s3_server.client().put_object(Bucket=bucket, Key="export/b.jpg", Body=b"b")
    status = dvc(project, "status")
    assert "changed deps" in status and f"s3://{bucket}/export" in status
