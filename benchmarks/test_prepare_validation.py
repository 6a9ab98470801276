"""`prepare`'s first pass (read, hash, decode every image) on threads vs. one thread.

FairFace's crops are a few hundred pixels wide, so decoding dominates the pass; Pillow, zlib
and hashlib release the GIL while they work, so threads pay on two cores. Measured on a
FairFace-format zip of 2,000 224-pixel JPEGs; the threaded pass must beat the single-threaded
baseline by 1.2x in the same run (best of 7 rounds each, on a machine with at least two CPUs).

Run: `.venv/bin/pytest benchmarks/test_prepare_validation.py --benchmark-group-by=group`
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairvision.data.fairface import CSV_HEADER, LABEL_CSVS, fairface_source, zip_name
from fairvision.data.prepare import validate_source
from fairvision.data.storage import open_root

N_IMAGES = 2000
SIDE = 224
GOAL = 1.2
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def fairface(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("fairface")
    lines = [",".join(CSV_HEADER)]
    with zipfile.ZipFile(root / zip_name(0.25), "w") as archive:
        for n in range(N_IMAGES):
            key = f"train/{n}.jpg"
            base = rng.integers(0, 256, (SIDE // 8, SIDE // 8, 3), dtype=np.uint8)  # smooth, photo-like content
            buffer = io.BytesIO()
            Image.fromarray(base).resize((SIDE, SIDE), Image.BILINEAR).save(buffer, "JPEG", quality=90)
            archive.writestr(key, buffer.getvalue())
            lines.append(f"{key},20-29,{('Male', 'Female')[n % 2]},White,True")
    (root / LABEL_CSVS["train"]).write_text("\n".join(lines) + "\n")
    (root / LABEL_CSVS["val"]).write_text(",".join(CSV_HEADER) + "\n")
    return root


def validate(root: Path, workers: int) -> None:
    with fairface_source(open_root(root), 0.25, "gender") as source:
        assert len(validate_source(source, 40_000_000, workers=workers).rows) == N_IMAGES


@pytest.mark.benchmark(group=f"validate {N_IMAGES} {SIDE}px JPEGs")
def test_baseline_one_thread(benchmark, fairface) -> None:
    benchmark.pedantic(validate, args=(fairface, 1), rounds=7, warmup_rounds=1)
    RESULTS["one"] = benchmark.stats.stats.min


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="threads cannot pay on one CPU")
@pytest.mark.benchmark(group=f"validate {N_IMAGES} {SIDE}px JPEGs")
def test_one_thread_per_cpu(benchmark, fairface) -> None:
    benchmark.pedantic(validate, args=(fairface, os.cpu_count()), rounds=7, warmup_rounds=1)
    RESULTS["threads"] = benchmark.stats.stats.min
    assert "one" in RESULTS, "run the whole module: the baseline is measured first"
    assert RESULTS["one"] / RESULTS["threads"] >= GOAL, RESULTS
