"""Which CPU settings make fairvision training bit-identical across x86 machines, and what they cost.

We cannot run on several machine types here, so the script varies, on one machine, what differs
between machines, each in a fresh Python process (the variables are read when TensorFlow starts):

  * TF_ENABLE_ONEDNN_OPTS=1|0: TensorFlow's oneDNN ops (conv, matmul, batch norm, ...) on or off;
  * TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL=0: with oneDNN ops off, Eigen's matrix products still
    call oneDNN's sgemm (a JIT kernel chosen per CPU at run time); this makes them use Eigen's own
    kernel, compiled into the wheel for AVX;
  * ONEDNN_MAX_CPU_ISA=AVX|AVX2|AVX512_CORE|...: the newest instruction set oneDNN may dispatch to,
    i.e. the kernels an older CPU would run;
  * TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS, OMP_NUM_THREADS, and the CPUs the process may
    use (sched_setaffinity): a machine with another core count (TensorFlow's intra-op pool has one
    thread per usable CPU unless told otherwise);
  * JSIMD_FORCENONE=1: libjpeg-turbo without SIMD, i.e. JPEG decoding on another CPU.

A setting is MODE/VARIATION: a mode is what a project could pin (`--list` shows them; `pinned`
is the recommendation of docs/reproducibility.md), a variation is a proxy for another machine
added on top. For every setting the script trains each backbone with the project's own
`fairvision.models.train.train` on a small dataset built by `fairvision synth` + `fairvision
prepare`, hashes every exported variable and the exported model's test-split probabilities, and
compares them with the reference run of the same mode (the mode's first setting in the list).
An inference phase predicts with one fixed trained model under each setting; a timing phase
measures training speed at the pipeline's default size (image_size 64, batch 64).

    .venv/bin/python scripts/reproducibility.py                  # matrix + inference, ~10 min on 2 CPUs
    .venv/bin/python scripts/reproducibility.py --no-matrix --timing   # speed only, ~10 min
    .venv/bin/python scripts/reproducibility.py --settings onednn/reference onednn/intra=1
    .venv/bin/python scripts/reproducibility.py --modes onednn eigen --variations reference isa=AVX2
    .venv/bin/python scripts/reproducibility.py --list           # modes and variations

To compare two real machines, run the same command on both (e.g. `--settings pinned/reference
--no-inference`) and compare the printed hashes. The script measures and never fails on a difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Modes: what a project could pin. `pinned` is docs/reproducibility.md's recommendation.
PINNED_ISA, PINNED_THREADS = "AVX2", 4
MODES: dict[str, dict[str, str]] = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},  # TensorFlow's default on x86 Linux
    "no-onednn-ops": {"TF_ENABLE_ONEDNN_OPTS": "0"},  # Eigen ops; their matrix products still call oneDNN sgemm
    "eigen": {"TF_ENABLE_ONEDNN_OPTS": "0", "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0"},
    "pinned": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": PINNED_ISA,
               "TF_NUM_INTRAOP_THREADS": str(PINNED_THREADS)},
}

# Variations: proxies for another machine, added to (and overriding) a mode's environment.
VARIATIONS: dict[str, dict[str, str]] = {
    "reference": {},
    "repeat": {},  # the same settings again: run-to-run determinism
    "isa=AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},  # Skylake-SP (this CPU: AVX512_CORE_VNNI)
    "isa=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},  # Haswell .. Comet Lake, AMD Zen 1-3
    "isa=AVX": {"ONEDNN_MAX_CPU_ISA": "AVX"},  # Sandy/Ivy Bridge: the oldest CPU the wheel runs on
    "isa=SSE41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},  # below the wheel's AVX floor; oneDNN still honours it
    "intra=1": {"TF_NUM_INTRAOP_THREADS": "1"},
    "intra=4": {"TF_NUM_INTRAOP_THREADS": "4"},  # a 4-core machine's default (oversubscribed on 2 CPUs)
    "inter=1": {"TF_NUM_INTEROP_THREADS": "1"},
    "omp=1": {"OMP_NUM_THREADS": "1"},
    "jpeg=nosimd": {"JSIMD_FORCENONE": "1"},
    "cpus=1": {},  # allowed on one CPU only: a 1-core machine (TensorFlow's defaults follow the affinity)
    "cpus=1,inter=1,omp=1": {"TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"},
    "intra=1,isa=AVX2": {"TF_NUM_INTRAOP_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "intra=4,isa=AVX2": {"TF_NUM_INTRAOP_THREADS": "4", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
CPU_LIMITS = {"cpus=1": 1, "cpus=1,inter=1,omp=1": 1}  # variations that restrict the usable CPUs

# The default run (~10 min on 2 CPUs): TensorFlow's defaults, oneDNN ops off, and the pins, each under
# a proxy for an older CPU and for a smaller machine.
DEFAULT_SETTINGS = ("onednn/reference", "onednn/isa=AVX2", "onednn/cpus=1", "no-onednn-ops/reference",
                    "no-onednn-ops/isa=AVX2", "pinned/reference", "pinned/cpus=1,inter=1,omp=1")
DEFAULT_INFERENCE = ("onednn/reference", "onednn/isa=AVX2", "onednn/cpus=1")
# `--timing` without settings: oneDNN on vs off and the pins, at the pipeline's default size.
DEFAULT_TIMING = ("onednn/reference", "onednn/isa=AVX2", "pinned/reference", "no-onednn-ops/reference",
                  "eigen/reference")
# Variables every run clears first, so the caller's shell cannot leak a setting into a run.
CONTROLLED = sorted({name for env in [*MODES.values(), *VARIATIONS.values()] for name in env})


@dataclasses.dataclass(frozen=True)
class Setting:
    mode: str
    variation: str

    @property
    def name(self) -> str:
        return f"{self.mode}/{self.variation}"

    @property
    def env(self) -> dict[str, str]:
        return {**MODES[self.mode], **VARIATIONS[self.variation]}

    @property
    def cpus(self) -> int | None:
        return CPU_LIMITS.get(self.variation)

    @property
    def slug(self) -> str:
        return self.name.replace("/", "__").replace("=", "-").replace(",", "+")


def parse_setting(text: str) -> Setting:
    mode, _, variation = text.partition("/")
    if mode not in MODES or variation not in VARIATIONS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected MODE/VARIATION with MODE in {', '.join(MODES)} and VARIATION in "
            f"{', '.join(VARIATIONS)}")
    return Setting(mode, variation)


# --- dataset -----------------------------------------------------------------------------------------


def write_params(folder: Path, *, n_train: int, n_val: int, image_size: int, batch_size: int, epochs: int,
                 width: int, alpha: float) -> Path:
    """The repository's params.yaml with small sizes, in ``folder``."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["synth"].update(n_train=n_train, n_val=n_val, image_size=image_size)
    params["train"].update(image_size=image_size, batch_size=batch_size, epochs=epochs)
    params["backbones"] = {"small_cnn": {"width": width}, "mobilenet_v2": {"alpha": alpha}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def build_dataset(folder: Path, **sizes: Any) -> Path:
    """`fairvision synth` and `fairvision prepare` in ``folder``, each in a fresh process."""
    write_params(folder, **sizes)
    code = "import sys; from fairvision.cli import main; sys.exit(main(sys.argv[1:]))"
    for command in ("synth", "prepare"):
        done = subprocess.run([sys.executable, "-c", code, command], cwd=folder, env=child_env({}),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"fairvision {command} failed:\n{done.stderr[-4000:]}")
    return folder / "data/prepared/synthetic"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


# --- one run in a fresh process ------------------------------------------------------------------


def run_worker(folder: Path, backbones: list[str], run_dir: Path, env: dict[str, str], *, cpus: int | None = None,
               predict_from: Path | None = None, label: str = "run") -> dict[str, Any]:
    """Train ``backbones`` on ``folder``'s prepared data (or, with ``predict_from``, only predict with the
    models trained there) in a fresh interpreter with ``env`` added to a clean environment and, with
    ``cpus``, allowed on that many CPUs only; returns the worker's result.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--workdir", str(folder),
               "--run-dir", str(run_dir), "--backbones", *backbones]
    if predict_from:
        command += ["--predict-from", str(predict_from)]
    allowed = sorted(os.sched_getaffinity(0))[:cpus] if cpus else None
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None)
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{done.stderr[-4000:]}")
    result = json.loads((run_dir / "result.json").read_text())
    result["process_seconds"] = round(time.perf_counter() - started, 1)
    return result


def worker(folder: Path, run_dir: Path, backbones: list[str], predict_from: Path | None) -> None:
    """In the child: train each backbone (unless ``predict_from``), then hash variables and test probabilities."""
    import logging

    import keras
    import tensorflow as tf

    from fairvision.data.shards import read_records, shard_paths
    from fairvision.models.export import SIGNATURE
    from fairvision.models.train import train
    from fairvision.params import load_params

    params = load_params(folder / "params.yaml")
    prepared = folder / "data/prepared" / next(iter(params.datasets))
    epoch_times: list[float] = []

    class EpochClock(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if " epoch " in record.getMessage():
                epoch_times.append(time.perf_counter())

    train_logger = logging.getLogger("fairvision.models.train")
    train_logger.setLevel(logging.INFO)
    train_logger.addHandler(EpochClock())

    results: dict[str, Any] = {"tensorflow": tf.__version__, "cpus": len(os.sched_getaffinity(0)),
                               "env": {k: os.environ[k] for k in CONTROLLED if k in os.environ}, "backbones": {}}
    for backbone in backbones:
        keras.backend.clear_session()
        epoch_times.clear()
        model_dir = (predict_from or run_dir) / backbone / "model"
        result: dict[str, Any] = {}
        if predict_from is None:
            records = run_dir / backbone / "records"
            started = time.perf_counter()
            call_train(train, backbone, dict(params.backbones[backbone]), params.train, prepared, model_dir, records)
            wall = time.perf_counter() - started
            summary = json.loads((model_dir / "train.json").read_text())
            speed = next(data for data in map(read_json_or_none, sorted(records.rglob("*")))
                         if isinstance(data, dict) and "images_per_second" in data)
            steady = (summary["n_train"] * (len(epoch_times) - 1) / (epoch_times[-1] - epoch_times[0])
                      if len(epoch_times) > 1 else None)
            results["n_train"] = summary["n_train"]
            result.update(final=summary["final"], train_seconds=round(wall, 1),
                          images_per_second=speed["images_per_second"],  # the project's own: all epochs, tracing
                          steady_images_per_second=round(steady, 1) if steady else None)  # epochs 2.. (+ val pass)
        loaded = tf.saved_model.load(str(model_dir))
        weights = named_arrays(loaded.variables)
        classify = loaded.signatures[SIGNATURE]
        probabilities = np.concatenate([
            classify(image_bytes=batch["image"])["probabilities"].numpy()
            for batch in read_records(shard_paths(prepared / "shards", "test")).batch(256)
        ])
        np.savez(run_dir / f"{backbone}-weights.npz", **weights)
        np.save(run_dir / f"{backbone}-probabilities.npy", probabilities)
        result.update(weights_sha256=digest(weights), model_folder_sha256=folder_digest(model_dir),
                      probabilities_sha256=hashlib.sha256(probabilities.astype("<f4").tobytes()).hexdigest())
        results["backbones"][backbone] = result
    (run_dir / "result.json").write_text(json.dumps(results, indent=1))


def call_train(train, backbone: str, options: dict, params, prepared: Path, model_dir: Path, records: Path) -> None:
    """`train(backbone, options, params, prepared_dir, out_dir, <record paths>...)`, whatever the record
    arguments after ``out_dir`` are (a folder, or history and timing files): they all go under ``records``.
    Versions that take the seed as an argument get params' first seed."""
    extra = [name for name in list(inspect.signature(train).parameters)[5:] if name != "seed"]
    seed = {"seed": params.seeds[0]} if "seed" in inspect.signature(train).parameters else {}
    records.mkdir(parents=True, exist_ok=True)
    train(backbone, options, params, prepared, model_dir, **{name: records / name for name in extra}, **seed)


def read_json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def named_arrays(variables) -> dict[str, np.ndarray]:
    """Every variable of a loaded SavedModel (weights, batch-norm statistics, seed state) by name.

    By name, not by checkpoint key: the checkpoint inside a SavedModel can number the same
    variables in another order from one process to the next.
    """
    arrays: dict[str, np.ndarray] = {}
    for index, variable in enumerate(variables):
        name = variable.name.replace("/", "|")
        arrays[name if name not in arrays else f"{name}#{index}"] = variable.numpy()
    return arrays


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes of ``arrays`` in name order."""
    sha = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        sha.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def folder_digest(folder: Path) -> str:
    """sha256 over a folder's relative paths and bytes: what DVC's hash of the model folder depends on."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


# --- phases ----------------------------------------------------------------------------------------


def compare(run_dir: Path, reference_dir: Path, backbone: str) -> dict[str, Any]:
    """Largest weight and probability differences, and flipped test predictions, against a reference run."""
    ours, theirs = np.load(run_dir / f"{backbone}-weights.npz"), np.load(reference_dir / f"{backbone}-weights.npz")
    max_weight = max(float(np.max(np.abs(ours[k] - theirs[k]), initial=0.0)) for k in ours.files)
    p, q = (np.load(d / f"{backbone}-probabilities.npy") for d in (run_dir, reference_dir))
    return {"max_weight_diff": max_weight, "max_probability_diff": float(np.max(np.abs(p - q))),
            "flipped": int(np.sum(p.argmax(1) != q.argmax(1))), "n_test": len(p)}


def run_all(settings: list[Setting], jobs: int, run: Any) -> dict[Setting, dict[str, Any]]:
    """``run(setting)`` for every setting, ``jobs`` processes at a time (the results do not depend on load)."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip(settings, pool.map(run, settings)))


def references(settings: list[Setting]) -> dict[str, Setting]:
    """Each mode's reference: its first setting in the list."""
    first: dict[str, Setting] = {}
    for setting in settings:
        first.setdefault(setting.mode, setting)
    return first


def short(value: str) -> str:
    return f"`{value[:12]}`"


def diff(value: float) -> str:
    return "0" if value == 0 else f"{value:.1e}"


def run_matrix(args: argparse.Namespace, folder: Path) -> str:
    settings = args.settings
    log(f"matrix: {len(settings)} settings x {', '.join(args.backbones)}")

    def one(setting: Setting) -> dict[str, Any]:
        result = run_worker(folder, args.backbones, folder / "runs" / setting.slug, setting.env, cpus=setting.cpus,
                            label=setting.name)
        log(f"  {setting.name:34s} {result['process_seconds']:6.1f} s  " + "  ".join(
            f"{b} {result['backbones'][b]['weights_sha256'][:12]}" for b in args.backbones))
        return result

    results = run_all(settings, args.jobs, one)
    refs = references(settings)
    lines = ["| backbone | setting | weights sha256 | identical to the mode's reference | max abs weight diff "
             "| test probabilities sha256 | max abs prob diff | test predictions flipped | val accuracy "
             "| model folder bytes identical | images/s |",
             "|---|---|---|---|---:|---|---:|---:|---:|---|---:|"]
    for backbone in args.backbones:
        for setting in settings:
            reference = refs[setting.mode]
            got, ref = results[setting]["backbones"][backbone], results[reference]["backbones"][backbone]
            delta = compare(folder / "runs" / setting.slug, folder / "runs" / reference.slug, backbone)
            if setting == reference:
                same = folder_same = "reference"
            else:
                same = "**yes**" if got["weights_sha256"] == ref["weights_sha256"] else "no"
                folder_same = "yes" if got["model_folder_sha256"] == ref["model_folder_sha256"] else "no"
            lines.append(
                f"| {backbone} | {setting.name} | {short(got['weights_sha256'])} | {same} "
                f"| {diff(delta['max_weight_diff'])} | {short(got['probabilities_sha256'])} "
                f"| {diff(delta['max_probability_diff'])} | {delta['flipped']}/{delta['n_test']} "
                f"| {got['final']['val_accuracy']:.4f} | {folder_same} | {got['steady_images_per_second'] or 0:.0f} |")
    n_train = results[settings[0]].get("n_train", "?")
    return (f"### Training\n\nsynth.n_train {args.images} (train split {n_train} images), image_size "
            f"{args.image_size}, batch {args.batch_size}, {args.epochs} epochs, small_cnn width {args.width}, "
            f"mobilenet_v2 alpha {args.alpha}, seed 0, {args.jobs} run(s) at a time; probabilities over the "
            f"test split. Each mode's first setting is its reference. images/s: from the end of epoch 1 to the "
            f"end of the last (train and val passes), at this small size; `--timing` measures the default size.\n\n"
            + "\n".join(lines) + "\n")


def run_inference(args: argparse.Namespace, folder: Path) -> str:
    """One fixed trained model per backbone (the first matrix run's), predicted under each setting."""
    source = folder / "runs" / args.settings[0].slug
    log(f"inference: the models of {args.settings[0].name}, predicted under {len(args.inference)} settings")

    def one(setting: Setting) -> dict[str, Any]:
        return run_worker(folder, args.backbones, folder / "predict" / setting.slug, setting.env, cpus=setting.cpus,
                          predict_from=source, label=f"predict {setting.name}")

    results = run_all(args.inference, args.jobs, one)
    first = args.inference[0]
    lines = ["| backbone | setting | test probabilities sha256 | identical to the first row | max abs prob diff "
             "| test predictions flipped |", "|---|---|---|---|---:|---:|"]
    for backbone in args.backbones:
        for setting in args.inference:
            got = results[setting]["backbones"][backbone]
            p, q = (np.load(folder / "predict" / s.slug / f"{backbone}-probabilities.npy") for s in (setting, first))
            same = "reference" if setting == first else (
                "**yes**" if got["probabilities_sha256"] == results[first]["backbones"][backbone][
                    "probabilities_sha256"] else "no")
            changed = int(np.sum(p.argmax(1) != q.argmax(1)))
            lines.append(f"| {backbone} | {setting.name} | {short(got['probabilities_sha256'])} | {same} "
                         f"| {diff(float(np.max(np.abs(p - q))))} | {changed}/{len(p)} |")
    return (f"### Inference only\n\nThe models trained under {args.settings[0].name}, loaded and run on the test "
            f"split under each setting (what `fairvision evaluate` does on another machine).\n\n"
            + "\n".join(lines) + "\n")


def run_timing(args: argparse.Namespace, workdir: Path) -> str:
    folder = workdir / "timing"
    sizes = dict(n_train=args.timing_images, n_val=args.val_images, image_size=64, batch_size=64,
                 epochs=args.timing_epochs, width=16, alpha=0.35)
    log(f"timing: building the dataset in {folder} ({sizes})")
    build_dataset(folder, **sizes)
    rows = []
    for setting in args.timing:  # one at a time: speed depends on load
        result = run_worker(folder, args.backbones, folder / "runs" / setting.slug, setting.env, cpus=setting.cpus,
                            label=setting.name)
        for backbone in args.backbones:
            got = result["backbones"][backbone]
            rows.append({"backbone": backbone, "setting": setting.name, "steady": got["steady_images_per_second"],
                         "overall": got["images_per_second"]})
        log(f"  {setting.name:34s} " + "  ".join(
            f"{b} {result['backbones'][b]['steady_images_per_second']} img/s" for b in args.backbones))
    base = {r["backbone"]: r["steady"] for r in rows if r["setting"] == args.timing[0].name}
    lines = [f"| backbone | setting | images/s (epochs 2-{args.timing_epochs}) | relative to {args.timing[0].name} "
             "| images/s (the project's timing file: all epochs, with tracing) |", "|---|---|---:|---:|---:|"]
    for backbone in args.backbones:
        for row in (r for r in rows if r["backbone"] == backbone):
            lines.append(f"| {backbone} | {row['setting']} | {row['steady']:.0f} | "
                         f"{row['steady'] / base[backbone]:.2f} | {row['overall']:.0f} |")
    return (f"### Speed\n\nimage_size 64, batch 64, small_cnn width 16, mobilenet_v2 alpha 0.35, synth.n_train "
            f"{args.timing_images}, {args.timing_epochs} epochs; images/s from the end of epoch 1 to the end of the "
            f"last (train pass plus the small val pass), one run at a time.\n\n" + "\n".join(lines) + "\n")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", type=parse_setting, metavar="MODE/VARIATION",
                        default=[parse_setting(s) for s in DEFAULT_SETTINGS],
                        help=f"training settings (default: {' '.join(DEFAULT_SETTINGS)})")
    parser.add_argument("--modes", nargs="+", choices=list(MODES),
                        help="instead of --settings: every mode x every --variations")
    parser.add_argument("--variations", nargs="+", choices=list(VARIATIONS), metavar="VARIATION",
                        default=["reference", "repeat", "isa=AVX2", "intra=1"],
                        help="with --modes (default: %(default)s; the first is each mode's reference)")
    parser.add_argument("--backbones", nargs="+", default=["small_cnn", "mobilenet_v2"],
                        choices=["small_cnn", "mobilenet_v2"], help="(default: %(default)s)")
    parser.add_argument("--images", type=int, default=1000, help="synth.n_train of the matrix (default: %(default)s)")
    parser.add_argument("--val-images", type=int, default=300, help="synth.n_val (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=32, help="matrix image size (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="matrix batch size (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=2, help="matrix epochs (default: %(default)s)")
    parser.add_argument("--width", type=int, default=16, help="small_cnn width (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.35, help="mobilenet_v2 alpha (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="matrix and inference runs at a time (default: %(default)s; more only with spare CPUs: "
                             "TensorFlow's threads spin, so two runs on 2 CPUs take longer than one after the "
                             "other; the timing phase always runs one at a time)")
    parser.add_argument("--inference", nargs="+", type=parse_setting, metavar="MODE/VARIATION",
                        default=[parse_setting(s) for s in DEFAULT_INFERENCE],
                        help=f"inference-only settings (default: {' '.join(DEFAULT_INFERENCE)})")
    parser.add_argument("--no-inference", dest="inference_phase", action="store_false", help="skip inference")
    parser.add_argument("--no-matrix", dest="matrix", action="store_false",
                        help="skip the training matrix and the inference phase")
    parser.add_argument("--timing", nargs="*", type=parse_setting, metavar="MODE/VARIATION",
                        help="also time training at image_size 64, batch 64 under these settings, the first being "
                             f"the baseline (without settings: {' '.join(DEFAULT_TIMING)})")
    parser.add_argument("--timing-images", type=int, default=600,
                        help="synth.n_train of the timing phase (default: %(default)s)")
    parser.add_argument("--timing-epochs", type=int, default=2, help="timing epochs, at least 2 (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, help="keep datasets and runs here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--list", action="store_true", help="print the modes and variations and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--predict-from", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.workdir, args.run_dir, args.backbones, args.predict_from)
        return 0
    if args.list:
        for name, env in MODES.items():
            print(f"mode      {name:22s} {' '.join(f'{k}={v}' for k, v in env.items())}")
        for name, env in VARIATIONS.items():
            cpus = f" (on {CPU_LIMITS[name]} CPU)" if name in CPU_LIMITS else ""
            print(f"variation {name:22s} {' '.join(f'{k}={v}' for k, v in env.items()) or '-'}{cpus}")
        return 0
    if args.timing_epochs < 2:
        parser.error("--timing-epochs must be at least 2: epoch 1 includes tracing")
    if args.modes:
        args.settings = [Setting(mode, variation) for mode in args.modes for variation in args.variations]

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="fairvision-repro-")) if temporary else args.workdir.resolve()
    started = time.perf_counter()
    command = " ".join(["scripts/reproducibility.py", *(sys.argv[1:] if argv is None else argv)])
    sections = [f"Command: `{command}`  \nMachine: {cpu_model()}, {len(os.sched_getaffinity(0))} CPUs; "
                f"Python {sys.version.split()[0]}; load average at the start "
                f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"]
    try:
        if args.matrix:
            folder = workdir / "matrix"
            sizes = dict(n_train=args.images, n_val=args.val_images, image_size=args.image_size,
                         batch_size=args.batch_size, epochs=args.epochs, width=args.width, alpha=args.alpha)
            log(f"matrix: building the dataset in {folder} ({sizes})")
            build_dataset(folder, **sizes)
            sections.append(run_matrix(args, folder))
            if args.inference_phase:
                sections.append(run_inference(args, folder))
        if args.timing is not None:
            args.timing = args.timing or [parse_setting(s) for s in DEFAULT_TIMING]
            sections.append(run_timing(args, workdir))
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    sections.append(f"Total: {time.perf_counter() - started:.0f} s; load average at the end {load} "
                    "(speeds are only comparable on an idle machine)\n")
    text = "\n".join(sections)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
