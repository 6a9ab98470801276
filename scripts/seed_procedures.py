#!/usr/bin/env python3
"""Compare training procedures with the gate, as CI would: K seeds against K other seeds of the same procedure
(a rerun on another machine, which must not be a regression), and against K seeds of a procedure made worse.

Reuses the seeds `scripts/seed_variance.py` trained (its work folder, `.fairvision/seed-variance/<variant>/
seed-<S>/`): each half of a variant's seeds is audited as one procedure (`fairvision.audit.stage.audit` with
several seeds) into `.fairvision/seed-variance/procedures/<name>/audits/...`, then `fairvision check`'s own
`run_check` compares the second with the first, with the published params.yaml's settings (training-noise
allowances apply only where a side is one seed, so here they do not). The other plants (`VARIANTS`: the
planted group's cue contrast halved from the demo's 0.06, and the demo's plant weakened to 0.12 and 0.24, so
that halving the contrast can be measured where it still changes the model) are trained here when missing.
Writes docs/seed-procedures.md and .json.

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

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from seed_variance import DATASET, prepare_variant, train_seed  # noqa: E402  (a sibling script)

PLANTED = "Latino_Hispanic"
DEMO_CONTRAST = 0.06  # params.yaml's plant


def plant(contrast: float) -> dict[str, Any]:
    """params.yaml's plant with another contrast of the planted group's gender cue."""
    return {"bias": {"attribute": "race", "group": PLANTED, "train_fraction": 0.25, "contrast": contrast,
                     "label_noise": 0.1}}


# Variants trained here when missing (`planted` and `none` come from scripts/seed_variance.py).
VARIANTS = {"stronger": plant(DEMO_CONTRAST / 2), "weaker-0.12": plant(2 * DEMO_CONTRAST),
            "weaker-0.24": plant(4 * DEMO_CONTRAST)}


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
    from fairvision.audit.check import WITHIN_SEED_NOISE, render_text, run_check
    from fairvision.audit.gate import CheckSettings
    from fairvision.params import load_params

    settings = CheckSettings.from_params(load_params(ROOT / "params.yaml"))
    with contextlib.chdir(current):
        result = run_check([f"{DATASET}/{backbone}"], str(baseline / "audits"), settings)
    lines = render_text(result).splitlines()
    fairness = json.loads((current / "audits" / DATASET / backbone / "fairness.json").read_text(encoding="utf-8"))
    before = json.loads((baseline / "audits" / DATASET / backbone / "fairness.json").read_text(encoding="utf-8"))
    findings = result.runs[0].findings
    inconclusive = Counter(f"{f.partition} · {f.group}" for f in findings if f.change == "inconclusive")
    noise = Counter(f"{f.partition} · {f.group}" for f in findings if f.reason == WITHIN_SEED_NOISE)
    planted = next(f for f in result.runs[0].findings if (f.partition, f.outcome, f.group, f.metric) ==
                   ("race", "correct", PLANTED, "error_rate_difference"))
    return {"exit_status": result.exit_status, "summary": lines[-1].split(" against baseline ")[0],
            "regressions": [line for line in lines if line.startswith("REGRESSION")],
            "inconclusive_by_group": dict(inconclusive.most_common(5)),
            "within_seed_noise": sum(noise.values()), "within_seed_noise_by_group": dict(noise.most_common(5)),
            "planted_error_rate_difference": {"before": planted.baseline, "after": planted.current,
                                              "delta": planted.delta, "interval": [planted.low, planted.high],
                                              "change": planted.change,
                                              "seeds": {"baseline": _planted_seeds(before),
                                                        "current": _planted_seeds(fairness)}},
            "current_verdict": fairness["summary"]["verdict"],
            "current_seeds_failing": [run["failing"] for run in fairness["seeds"]["per_seed"]]}


def _planted_seeds(fairness: dict[str, Any]) -> list[float]:
    """Each seed's own value of the planted group's error-rate difference (against the reference group)."""
    group = fairness["partitions"]["race"]["outcomes"]["correct"]["groups"][PLANTED]
    return group["vs_reference"]["error_rate_difference"]["seeds"]["values"]


def seeds_only_lower(seeds: dict[str, list[float]], level: float = 0.95) -> float:
    """The one-sided lower end of Welch's t interval for the change of the seeds' mean: the most lenient test of
    this one comparison (no image noise, no multiple comparisons), for what no gate could do better than."""
    from scipy import stats

    before, after = np.array(seeds["baseline"]), np.array(seeds["current"])
    shares = before.var(ddof=1) / len(before), after.var(ddof=1) / len(after)
    df = sum(shares) ** 2 / (shares[0] ** 2 / (len(before) - 1) + shares[1] ** 2 / (len(after) - 1))
    return float(after.mean() - before.mean() - stats.t.ppf(level, df) * np.sqrt(sum(shares)))


def render(results: dict[str, Any], command: str) -> str:
    lines = ["# Comparing training procedures with the gate", "",
             f"Written by `{command}`, from the seeds `scripts/seed_variance.py` trained (docs/seed-variance.md; "
             "the other plants' seeds are trained here). Each side of a check is K seeds of one procedure audited "
             "together (`train.seeds`): counts are the seeds' means, and every interval adds the seeds' own "
             "spread to the bootstrap over test images (docs/seed-coverage.md). The check compares the two "
             "procedures paired by image, with no training-noise allowance (both sides measured their training "
             "noise). A regression is a Δ interval wholly past the margin. A point Δ past the margin whose "
             "interval reaches below it is within the noise both procedures measured: `ok`, listed as such "
             "(\"within the seeds' noise\" below). Exit status: 0 no regression, 1 regression, 2 inconclusive.",
             "", "| check | baseline | current | exit | summary | planted group's error-rate difference (Δ [interval]) |",
             "|---|---|---|---:|---|---|"]
    for name, result in results.items():
        p = result["planted_error_rate_difference"]
        lines.append(f"| {name} | {result['baseline']} | {result['current']} | {result['exit_status']} | "
                     f"{result['summary']} | {p['before']:.3f} → {p['after']:.3f}, Δ {p['delta']:+.3f} "
                     f"[{p['interval'][0]:+.3f}, {p['interval'][1]:+.3f}]: {p['change']} |")
    planted = {name: result["planted_error_rate_difference"] for name, result in results.items()}
    shown = [p["delta"] for p in planted.values() if p["change"] == "regression"]
    unshown = [(p["delta"], (p["interval"][1] - p["interval"][0]) / 2) for p in planted.values()
               if p["change"] != "regression" and p["delta"] > 0]
    if shown and unshown:
        largest, half = max(unshown)
        seeds = len(next(iter(results.values()))["current_seeds_failing"])
        lines += ["", f"On the planted group's error-rate difference, the smallest change called a regression is "
                  f"Δ {min(shown):+.3f}; the largest not called one is Δ {largest:+.3f}, whose interval is "
                  f"± {half:.3f} wide: with {seeds} seeds a side, the planted group's seed-to-seed spread "
                  "(docs/seed-variance.md) hides a change of that size; more seeds a side narrow the interval (as "
                  "1/√K, and Student's t with more degrees of freedom).",
                  "", "The most lenient test of that one comparison, on its seeds alone (Welch's t, one-sided 95 %, "
                  "no image noise, no multiple comparisons), against the margin 0.050: "
                  + "; ".join(f"{name}: lower end {seeds_only_lower(p['seeds']):+.3f}" for name, p in planted.items()
                              if p["change"] != "regression" and p["delta"] > 0)
                  + ". A lower end below the margin: not even that test could call the change a regression with these "
                  "seeds. Above it: a test of this one comparison would, the gate (which judges every comparison at "
                  "once, simultaneous intervals, and adds the test images' noise) does not."]
    for name, result in results.items():
        where = "; ".join(f"{group} {n}" for group, n in result["within_seed_noise_by_group"].items())
        lines += ["", f"**{name}**: point Δ past the margin within the seeds' noise, by group (most first): "
                  f"{where or 'none'}."]
        if result["inconclusive_by_group"]:
            where = "; ".join(f"{group} {n}" for group, n in result["inconclusive_by_group"].items())
            lines += ["", f"Inconclusive comparisons by group: {where}."]
        if result["regressions"]:
            lines += ["", "The first regressions the check names:", ""]
            lines += [f"    {line}" for line in result["regressions"][:5]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir, k = args.workdir.resolve(), args.seeds
    first, second = list(range(k)), list(range(k, 2 * k))
    for variant, synth in VARIANTS.items():
        prepare_variant(workdir / variant, synth, [args.backbone])
        for seed in first:
            train_seed(workdir / variant, synth, [args.backbone], args.backbone, seed)

    def side(variant: str, seeds: list[int]) -> Path:
        return procedure(workdir, variant, args.backbone, seeds, f"{variant}-{seeds[0]}-{seeds[-1]}")

    a, b = f"seeds {first[0]}-{first[-1]}", f"seeds {second[0]}-{second[-1]}"
    checks = [  # (name, baseline's description, current's, baseline (variant, seeds), current)
        ("same procedure, other seeds", f"planted, {a}", f"planted, {b}", ("planted", first), ("planted", second)),
        ("contrast halved, 0.24 → 0.12", f"contrast 0.24, {a}", f"contrast 0.12, {a}", ("weaker-0.24", first),
         ("weaker-0.12", first)),
        ("contrast halved, 0.12 → 0.06 (the demo's plant)", f"contrast 0.12, {a}", f"planted, {a}",
         ("weaker-0.12", first), ("planted", first)),
        ("contrast halved, 0.06 → 0.03", f"planted, {a}", f"contrast 0.03, {a}", ("planted", first),
         ("stronger", first)),
        ("contrast quartered, 0.24 → 0.06 (the demo's plant)", f"contrast 0.24, {a}", f"planted, {a}",
         ("weaker-0.24", first), ("planted", first)),
        ("the plant appears", f"no plant, {a}", f"planted, {a}", ("none", first), ("planted", first)),
    ]
    results = {name: {"baseline": before, "current": after, **check(side(*base), side(*now), args.backbone)}
               for name, before, after, base, now in checks}
    command = "scripts/seed_procedures.py" + (f" --backbone {args.backbone}" if args.backbone != "small_cnn" else "")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(render(results, command), encoding="utf-8")
    for name, result in results.items():
        print(f"{name}: exit {result['exit_status']}: {result['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
