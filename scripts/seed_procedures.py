#!/usr/bin/env python3
"""Compare training procedures with the gate, as CI would: K seeds against K other seeds of the same procedure
(a rerun on another machine, which must not be a regression), and against K seeds of a procedure made worse.

Reuses the seeds `scripts/seed_variance.py` trained (its work folder, `.fairvision/seed-variance/<variant>/
seed-<S>/`): each half of a variant's seeds is audited as one procedure (`fairvision.audit.stage.audit` with
several seeds) into `.fairvision/seed-variance/procedures/<name>/audits/...`, then `fairvision check`'s own
`run_check` compares the second with the first, with the published params.yaml's settings (training-noise
allowances apply only where a side is one seed, so here they do not). The variant `stronger` (the planted
bias's contrast halved) is trained here when missing. Writes docs/seed-procedures.md and .json.

    .venv/bin/python scripts/seed_procedures.py                # small_cnn, seeds 0-4 against 5-9
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections import Counter
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from seed_variance import DATASET, prepare_variant, train_seed  # noqa: E402  (a sibling script)

PLANTED = "Latino_Hispanic"
STRONGER = {"bias": {"attribute": "race", "group": "Latino_Hispanic", "train_fraction": 0.25, "contrast": 0.03,
                     "label_noise": 0.1}}  # params.yaml's plant with its contrast halved


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per procedure (default 5: 0-4 against 5-9)")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".fairvision" / "seed-variance")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "seed-procedures")
    return parser.parse_args(argv)


def procedure(workdir: Path, variant: str, backbone: str, seeds: list[int], name: str) -> Path:
    """Audit ``seeds`` of ``variant`` as one procedure; the folder a check can read (params.yaml, audits/)."""
    from fairvision.audit.stage import audit
    from fairvision.params import load_params

    source = workdir / variant
    folder = workdir / "procedures" / name
    run_dir = folder / "audits" / DATASET / backbone
    shutil.rmtree(folder, ignore_errors=True)
    (run_dir / "predictions").mkdir(parents=True)
    params_data = yaml.safe_load((source / "params.yaml").read_text(encoding="utf-8"))
    params_data["train"]["seeds"] = seeds
    (folder / "params.yaml").write_text(yaml.safe_dump(params_data, sort_keys=False), encoding="utf-8")
    params = load_params(folder / "params.yaml")
    paths = {}
    for seed in seeds:
        table = source / f"seed-{seed}" / "audits" / DATASET / backbone / "predictions" / f"seed-{seed}.parquet"
        paths[seed] = run_dir / "predictions" / f"seed-{seed}.parquet"
        shutil.copyfile(table, paths[seed])
    audit(backbone, paths, source / "data" / "prepared" / DATASET, params.datasets[DATASET], params.audit,
          run_dir / "fairness.json")
    return folder


def check(baseline: Path, current: Path, backbone: str) -> dict[str, Any]:
    """`fairvision check` of ``current`` against the ``baseline`` folder, with the repository's settings."""
    from fairvision.audit.check import render_text, run_check
    from fairvision.audit.gate import CheckSettings
    from fairvision.params import load_params

    settings = CheckSettings.from_params(load_params(ROOT / "params.yaml"))
    with contextlib.chdir(current):
        result = run_check([f"{DATASET}/{backbone}"], str(baseline / "audits"), settings)
    lines = render_text(result).splitlines()
    fairness = json.loads((current / "audits" / DATASET / backbone / "fairness.json").read_text(encoding="utf-8"))
    inconclusive = Counter(f"{f.partition} · {f.group}" for f in result.runs[0].findings if f.change == "inconclusive")
    planted = next(f for f in result.runs[0].findings if (f.partition, f.outcome, f.group, f.metric) ==
                   ("race", "correct", PLANTED, "error_rate_difference"))
    return {"exit_status": result.exit_status, "summary": lines[-1].split(" against baseline ")[0],
            "regressions": [line for line in lines if line.startswith("REGRESSION")],
            "inconclusive_by_group": dict(inconclusive.most_common(5)),
            "planted_error_rate_difference": {"before": planted.baseline, "after": planted.current,
                                              "delta": planted.delta, "interval": [planted.low, planted.high],
                                              "change": planted.change},
            "current_verdict": fairness["summary"]["verdict"],
            "current_seeds_failing": [run["failing"] for run in fairness["seeds"]["per_seed"]]}


def render(results: dict[str, Any], command: str) -> str:
    lines = ["# Comparing training procedures with the gate", "",
             f"Written by `{command}`, from the seeds `scripts/seed_variance.py` trained (docs/seed-variance.md). "
             "Each side of a check is K seeds of one procedure audited together (`train.seeds`): counts are the "
             "seeds' means, and every interval adds the seeds' own spread to the bootstrap over test images "
             "(docs/seed-coverage.md). The check compares the two procedures paired by image, with no "
             "training-noise allowance (both sides measured their training noise). Exit status: 0 no regression, "
             "1 regression, 2 inconclusive (a point Δ past the margin that its interval cannot confirm, or a Δ "
             "interval that reaches past the margin without clearing it).", "",
             "| check | baseline | current | exit | summary | planted group's error-rate difference (Δ [interval]) |",
             "|---|---|---|---:|---|---|"]
    for name, result in results.items():
        p = result["planted_error_rate_difference"]
        lines.append(f"| {name} | {result['baseline']} | {result['current']} | {result['exit_status']} | "
                     f"{result['summary']} | {p['before']:.3f} → {p['after']:.3f}, Δ {p['delta']:+.3f} "
                     f"[{p['interval'][0]:+.3f}, {p['interval'][1]:+.3f}]: {p['change']} |")
    for name, result in results.items():
        where = "; ".join(f"{group} {n}" for group, n in result["inconclusive_by_group"].items())
        lines += ["", f"**{name}**: inconclusive comparisons by group (most first): {where or 'none'}."]
        if result["regressions"]:
            lines += ["", "The first regressions the check names:", ""]
            lines += [f"    {line}" for line in result["regressions"][:5]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir, k = args.workdir.resolve(), args.seeds
    first, second = list(range(k)), list(range(k, 2 * k))
    prepare_variant(workdir / "stronger", STRONGER, [args.backbone])
    for seed in first:
        train_seed(workdir / "stronger", STRONGER, [args.backbone], args.backbone, seed)
    unbiased = procedure(workdir, "none", args.backbone, first, f"none-{first[0]}-{first[-1]}")
    planted_a = procedure(workdir, "planted", args.backbone, first, f"planted-{first[0]}-{first[-1]}")
    planted_b = procedure(workdir, "planted", args.backbone, second, f"planted-{second[0]}-{second[-1]}")
    stronger = procedure(workdir, "stronger", args.backbone, first, f"stronger-{first[0]}-{first[-1]}")
    results = {
        "same procedure, other seeds": {"baseline": f"planted, seeds {first[0]}-{first[-1]}",
                                        "current": f"planted, seeds {second[0]}-{second[-1]}",
                                        **check(planted_a, planted_b, args.backbone)},
        "plant made stronger": {"baseline": f"planted, seeds {first[0]}-{first[-1]}",
                                "current": f"contrast halved, seeds {first[0]}-{first[-1]}",
                                **check(planted_a, stronger, args.backbone)},
        "the plant appears": {"baseline": f"no plant, seeds {first[0]}-{first[-1]}",
                              "current": f"planted, seeds {first[0]}-{first[-1]}",
                              **check(unbiased, planted_a, args.backbone)},
    }
    command = "scripts/seed_procedures.py" + (f" --backbone {args.backbone}" if args.backbone != "small_cnn" else "")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(render(results, command), encoding="utf-8")
    for name, result in results.items():
        print(f"{name}: exit {result['exit_status']}: {result['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
