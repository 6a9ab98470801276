"""Training images/s per backbone on one GPU, through the project's own builders and training step.

One short run for a lent GPU machine (an H100, say): for each backbone, the model from
`build_backbone`, the optimizer and step from `models/train.py`'s `_training_step` (Adam, in a
LossScaleOptimizer under mixed_float16, which `use_mixed_precision` sets when a GPU is present),
trained on one synthetic batch (random 0-255 images as float32, labels). One device: the first
GPU, or the CPU. The first `--warmup` steps (tracing and cuDNN autotuning) are timed apart; then
`--steps` steps three times, each adding one cost of a real epoch:

  * images/s: the batch made on the device and fed again every step, steps dispatched back to
    back with one host sync at the end: what the device can do;
  * tf.data images/s: the batch in host memory, repeated by `tf.data` as the training input
    delivers batches, so every step copies it to the GPU first (77 MB at 224 px, batch 128);
  * loop images/s: the same `tf.data` batches through `_run_epoch`, which reads every step's
    totals back to the host (the progress bar and the epoch's sums), as `fairvision train` runs.
    Its gap to `tf.data images/s` is what those per-step reads cost.

Prints a markdown table (backbone, parameters, images/s, ms/step, ...) with the device, TensorFlow
version and precision, and writes the same as JSON to `--out` after every backbone, so a run cut
short keeps what it measured. Defaults (224 px, batch 128, 50 steps, all four backbones) take a few
minutes on an H100, tracing included. On a CPU, as a smoke test:

    .venv/bin/python scripts/gpu_throughput.py --image-size 32 --batch-size 8 --steps 2 --backbones small_cnn

TensorFlow 2.21's wheel holds GPU code for compute capabilities up to 8.9 and only PTX for 9.0,
so on an H100 the driver compiles TensorFlow's kernels at first use: the first backbone's warm-up
is the longest (the compiled kernels are cached in ~/.nv/ComputeCache, made large enough here to
hold them for a second run on the same machine).

Needs TensorFlow with its CUDA 12 libraries (`tensorflow[and-cuda]`, Python 3.11 or 3.12), keras,
and what `fairvision.models.train` imports (pandas, tqdm, pillow, ...); fairvision is imported from
`src/` when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_CACHE_MAXSIZE", str(4 * 2**30))  # the PTX compiled for an H100, kept for the next run

ROOT = Path(__file__).resolve().parents[1]
try:
    import fairvision  # noqa: F401
except ImportError:  # a bare machine: the checkout's sources, not an installed package
    sys.path.insert(0, str(ROOT / "src"))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from fairvision.models.backbones import build_backbone  # noqa: E402
from fairvision.models.strategy import use_mixed_precision  # noqa: E402
from fairvision.models.train import _run_epoch, _training_step  # noqa: E402

# The options each backbone is measured with (the params.yaml `backbones.<name>` entries).
BACKBONES: dict[str, dict[str, Any]] = {
    "small_cnn": {"width": 16},
    "mobilenet_v2": {"alpha": 1.0},
    "efficientnet_b0": {},
    "resnet50": {},
}
NUM_CLASSES = 2
LEARNING_RATE = 1e-3
COLUMNS = ("backbone", "parameters", "images/s", "ms/step", "tf.data images/s", "loop images/s", "loop ms/step",
           "warm-up s", "peak GPU memory GiB")


def main() -> None:
    args = parse_args()
    if min(args.image_size, args.batch_size, args.steps, args.warmup) < 1:
        raise SystemExit("--image-size, --batch-size, --steps and --warmup must be at least 1")
    gpus = tf.config.list_physical_devices("GPU")
    mixed = use_mixed_precision() and not args.float32
    if not mixed:
        keras.mixed_precision.set_global_policy("float32")
    strategy = tf.distribute.get_strategy()  # one device, as `fairvision train` on a one-GPU machine
    report: dict[str, Any] = {
        "device": device_name(gpus), "gpus": len(gpus), "tensorflow": tf.__version__, "keras": keras.__version__,
        "cuda_build": tf.test.is_built_with_cuda(), "python": platform.python_version(),
        "precision": keras.mixed_precision.global_policy().name, "strategy": type(strategy).__name__,
        "image_size": args.image_size, "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "input": "one synthetic batch: resident on the device (images/s), from host memory by tf.data (the rest)",
        "results": [],
    }
    print(f"device: {report['device']} ({len(gpus)} GPU); TensorFlow {tf.__version__} "
          f"(CUDA build: {report['cuda_build']}); precision {report['precision']}; {report['strategy']}; "
          f"{args.image_size}px, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps",
          flush=True)
    for name in args.backbones:
        started = time.perf_counter()
        row = measure(name, args, strategy, gpus)
        report["results"].append(row)
        print(f"  {name}: {row['images/s']:.1f} images/s, tf.data {row['tf.data images/s']:.1f}, "
              f"loop {row['loop images/s']:.1f} "
              f"({time.perf_counter() - started:.0f} s in all)", flush=True)
        if args.out:
            write(args.out, report)
    print()
    print(markdown(report))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, autotuning)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES),
                        metavar="NAME", help=f"default: all of {', '.join(BACKBONES)}")
    parser.add_argument("--float32", action="store_true", help="no mixed precision on a GPU")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    return parser.parse_args()


def measure(name: str, args: argparse.Namespace, strategy: tf.distribute.Strategy, gpus: list) -> dict[str, Any]:
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_backbone(name, args.image_size, NUM_CLASSES, BACKBONES[name])
    _, step = _training_step(model, strategy, LEARNING_RATE, frozen=False)
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    resident = synthetic(args, "/GPU:0" if gpus else "/CPU:0")
    epoch = tf.data.Dataset.from_tensors(synthetic(args, "/CPU:0")).repeat(args.steps)

    started = time.perf_counter()
    for _ in range(args.warmup):
        step(*resident)
    sync(model)
    warmup = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(args.steps):
        step(*resident)
    sync(model)
    dispatched = time.perf_counter() - started

    started = time.perf_counter()
    for batch in epoch:
        step(*batch)
    sync(model)
    from_host = time.perf_counter() - started

    started = time.perf_counter()
    count = _run_epoch(step, strategy, epoch)["count"]
    sync(model)
    loop = time.perf_counter() - started
    assert count == args.steps * args.batch_size, count

    images = args.steps * args.batch_size
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30 if gpus else None
    return {
        "backbone": name, "options": BACKBONES[name], "parameters": int(model.count_params()),
        "images/s": images / dispatched, "ms/step": 1000 * dispatched / args.steps,
        "tf.data images/s": images / from_host, "loop images/s": images / loop,
        "loop ms/step": 1000 * loop / args.steps, "warm-up s": warmup, "peak GPU memory GiB": peak,
    }


def synthetic(args: argparse.Namespace, device: str) -> tuple[tf.Tensor, tf.Tensor]:
    """One batch on ``device``: random 0-255 integer pixels as float32 (as the input decodes them), labels."""
    shape = (args.batch_size, args.image_size, args.image_size, 3)
    with tf.device(device):
        pixels = tf.random.stateless_uniform(shape, (0, 0), minval=0, maxval=256, dtype=tf.int32)
        labels = tf.random.stateless_uniform((args.batch_size,), (0, 1), minval=0, maxval=NUM_CLASSES,
                                             dtype=tf.int64)
        return tf.cast(pixels, tf.float32), labels


def sync(model: keras.Model) -> None:
    """Wait for every dispatched step: a read of the last-updated weights queues behind all of them."""
    float(tf.reduce_sum(tf.cast(model.trainable_variables[-1], tf.float32)))


def device_name(gpus: list) -> str:
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability")
        return details.get("device_name", "GPU") + (f" (compute capability {capability[0]}.{capability[1]})"
                                                     if capability else "")
    try:
        model_names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name")]
    except OSError:
        model_names = []
    return f"CPU: {model_names[0] if model_names else platform.processor() or platform.machine()}, " \
           f"{os.cpu_count()} logical CPUs"


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Device: {report['device']}; TensorFlow {report['tensorflow']}, Keras {report['keras']}, "
             f"Python {report['python']}; {report['precision']}; {report['image_size']}px, batch "
             f"{report['batch_size']}; {report['steps']} timed steps after {report['warmup']} warm-up; "
             f"input: {report['input']}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    for row in report["results"]:
        lines.append("| " + " | ".join(cell(row[column]) for column in COLUMNS) + " |")
    return "\n".join(lines)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
