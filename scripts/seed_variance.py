"""How much does one training run's audit depend on its seed? Trains K seeds per backbone and compares their audits.

One trained model is one draw of the training procedure (weight initialisation, data order,
augmentation draws). This study trains K seeds of each backbone on the default data (params.yaml,
the planted bias) and on the same data without a plant (`synth.bias: none`, the audit's null),
audits each model with the project's own stages, and writes, per dataset variant and backbone:

  * per race group: accuracy, false positive and false negative rate (outcome: the favourable
    label) across seeds: mean, standard deviation, min and max;
  * the planted group against the others;
  * how many comparisons (partition × outcome × group × metric, against the reference or the rest)
    get different verdicts from different seeds, and how many flip between `fail` and `pass`;
  * without a plant: groups whose error rate is above the reference's in most seeds (a sign test
    over seeds), i.e. a cue of the generator tied to that attribute;
  * the across-seed spread of each comparison's value and distance from parity;
  * `fairvision check` between every pair of seeds (the gate's own paired statistics): how many
    pairs it would call a regression with no allowance, params.yaml's `check.training_noise`
    allowances (per metric, the most a pair's Δ interval cleared the margin by), and the rule
    held out: allowances from the first half of the seeds, applied to pairs of the second half.

Each seed trains in a fresh process (`python -m fairvision.commands.train`), then is evaluated and
audited by the same stage functions `dvc repro` runs. Results are kept per seed under the work
folder, so an interrupted study resumes; `--render` rewrites the report from them.

    .venv/bin/python scripts/seed_variance.py                     # K=10, both backbones, both variants (~1 h)
    .venv/bin/python scripts/seed_variance.py --seeds 3 --backbones small_cnn --variants planted
    .venv/bin/python scripts/seed_variance.py --render            # docs/seed-variance.md from the kept results

On 2 CPUs one seed of small_cnn or mobilenet_v2 at the default size takes 1-1.5 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATASET = "synthetic"
VARIANTS = {"planted": {}, "none": {"bias": "none"}}  # changes to params.yaml `synth`
RATES = ("accuracy", "false_positive_rate", "false_negative_rate")
BACKBONES = ["small_cnn", "mobilenet_v2"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..K-1 per backbone (default 10)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--workdir", type=Path, default=ROOT / ".fairvision" / "seed-variance",
                        help="where the data, models and per-seed audits are kept (default: .fairvision/seed-variance)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "seed-variance")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the report from the kept results (the .json beside --out)")
    return parser.parse_args(argv)


# --- Running: one folder per variant (data), one per seed (model, predictions, audit) ----------------------


def run(command: list[str], cwd: Path) -> None:
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} in {cwd} failed:\n{result.stderr[-3000:]}")


def write_params(folder: Path, synth: dict[str, Any], backbones: list[str], seed: int) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["synth"].update(synth)
    params["train"]["seeds"] = [seed]
    params["backbones"] = {name: params["backbones"][name] for name in backbones}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def prepare_variant(folder: Path, synth: dict[str, Any], backbones: list[str]) -> None:
    """synth + prepare once per variant; the seeds' folders link to its data."""
    if (folder / "data" / "prepared" / DATASET / "datasheet.json").exists():
        return
    write_params(folder, synth, backbones, seed=0)
    for stage in ("synth", "prepare"):
        run([sys.executable, "-m", f"fairvision.commands.{stage}"], folder)


def train_seed(variant: Path, synth: dict[str, Any], backbones: list[str], backbone: str, seed: int) -> Path:
    """Train, evaluate and audit one seed of one backbone (skipped when its audit exists); its audit."""
    folder = variant / f"seed-{seed}"
    fairness = folder / "audits" / DATASET / backbone / "fairness.json"
    if fairness.exists():
        return fairness
    write_params(folder, synth, backbones, seed)
    if not (folder / "data").exists():
        (folder / "data").symlink_to(variant / "data", target_is_directory=True)
    started = time.perf_counter()
    run([sys.executable, "-m", "fairvision.commands.train", backbone, "--no-checkpoint"], folder)
    run([sys.executable, "-m", "fairvision.commands.evaluate", backbone], folder)
    run([sys.executable, "-m", "fairvision.commands.audit", backbone], folder)
    print(f"  {variant.name} {backbone} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return fairness


# --- Reading each seed's audit --------------------------------------------------------------------------------


def seed_record(fairness: dict[str, Any]) -> dict[str, Any]:
    """What the study needs of one audit: race groups' rates, every comparison's value and verdict."""
    favourable = fairness["favorable_label"]
    race = fairness["partitions"]["race"]
    groups = race["outcomes"][favourable]["groups"]
    comparisons = {}
    for partition_name, partition in fairness["partitions"].items():
        for outcome_name, table in partition["outcomes"].items():
            for group_name, group in table["groups"].items():
                for against in ("vs_reference", "vs_rest"):
                    for metric, entry in group.get(against, {}).items():
                        key = " · ".join((partition_name, outcome_name, group_name, against, metric))
                        comparisons[key] = {"value": entry["value"], "verdict": entry["verdict"]}
    return {
        "accuracy": fairness["accuracy"],
        "reference": race["reference"],
        "n": {name: group["n"] for name, group in groups.items()},
        "rates": {name: {rate: group["rates"][rate]["value"] for rate in RATES} for name, group in groups.items()},
        "comparisons": comparisons,
        "verdict": fairness["summary"]["verdict"],
    }


def collect(workdir: Path, variants: list[str], backbones: list[str], seeds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for variant in variants:
        for backbone in backbones:
            records = []
            for seed in range(seeds):
                path = workdir / variant / f"seed-{seed}" / "audits" / DATASET / backbone / "fairness.json"
                if path.exists():
                    records.append({"seed": seed, **seed_record(json.loads(path.read_text(encoding="utf-8")))})
            if records:
                results.setdefault(variant, {})[backbone] = records
    return results


# --- Summaries --------------------------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(array):
        return {"mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    sd = float(array.std(ddof=1)) if len(array) > 1 else math.nan
    return {"mean": float(array.mean()), "sd": sd, "min": float(array.min()), "max": float(array.max())}


def sign_test(worse: int, seeds: int) -> float:
    """Two-sided binomial p-value of ``worse`` of ``seeds`` under 1/2 (ties count against the claim)."""
    tail = sum(math.comb(seeds, k) for k in range(max(worse, seeds - worse), seeds + 1)) / 2 ** seeds
    return min(1.0, 2 * tail)


def planted_group(bias: Any) -> str | None:
    """The group params.yaml `synth.bias` plants on, when it names one attribute (`attribute` + `group`, or a
    one-entry `where`); None for no plant or an intersection, which no single row of the tables is."""
    if not isinstance(bias, dict):
        return None
    where = bias.get("where") or {bias.get("attribute"): bias.get("group")}
    return next(iter(where.values())) if len(where) == 1 else None


def summarise(records: list[dict[str, Any]], planted: str | None) -> dict[str, Any]:
    seeds = len(records)
    groups = sorted(records[0]["rates"])
    reference = records[0]["reference"]
    rates = {group: {rate: spread([r["rates"][group][rate] for r in records]) for rate in RATES} for group in groups}
    verdicts: dict[str, list[str]] = {}
    values: dict[str, list[float | None]] = {}
    for record in records:
        for key, entry in record["comparisons"].items():
            verdicts.setdefault(key, []).append(entry["verdict"])
            values.setdefault(key, []).append(entry["value"])
    judged = {key: v for key, v in verdicts.items() if len(v) == seeds and set(v) != {"insufficient_data"}}
    differ = [key for key, v in judged.items() if len(set(v)) > 1]
    hard = [key for key, v in judged.items() if "fail" in v and "pass" in v]
    fails_somewhere = [key for key, v in judged.items() if "fail" in v]
    fail_share = {key: v.count("fail") for key, v in judged.items() if "fail" in v}
    sds = {key: spread(v)["sd"] for key, v in values.items()
           if len(v) == seeds and all(x is not None for x in v) and key in judged}
    worse = {}
    for group in groups:
        if group == reference:
            continue
        count = sum(r["rates"][group]["accuracy"] < r["rates"][reference]["accuracy"] for r in records)
        worse[group] = {"worse_in": count, "p": sign_test(count, seeds)}
    by_metric: dict[str, list[float]] = {}
    for key, sd in sds.items():
        if math.isfinite(sd):
            by_metric.setdefault(key.split(" · ")[-1], []).append(sd)
    return {
        "seeds": seeds,
        "gate_noise": gate_noise(values, seeds),
        "accuracy": spread([r["accuracy"] for r in records]),
        "verdicts": {r["seed"]: r["verdict"] for r in records},
        "reference": reference,
        "planted": planted,
        "n": records[0]["n"],
        "rates": rates,
        "comparisons_judged": len(judged),
        "verdicts_differ": len(differ),
        "fail_and_pass": len(hard),
        "fail_in_some_seed": len(fails_somewhere),
        "fail_in_every_seed": sum(count == seeds for count in fail_share.values()),
        "fail_and_pass_examples": sorted(hard)[:8],
        "accuracy_below_reference": worse,
        "value_sd_by_metric": {metric: {"median": float(np.median(v)), "p90": float(np.quantile(v, 0.9)),
                                        "max": float(np.max(v)), "comparisons": len(v)}
                               for metric, v in sorted(by_metric.items())},
    }


def pairwise_changes(series: list[float | None], metric: str, seeds: int) -> np.ndarray | None:
    """|change in distance from parity| for every pair of seeds; None if undefined or infinite in a seed."""
    from fairvision.audit.summary import distances_from_parity

    if len(series) != seeds or any(v is None for v in series):
        return None
    distance = distances_from_parity(np.array(series, dtype=float)[:, np.newaxis], (metric,))[:, 0]
    if not np.isfinite(distance).all():
        return None
    return np.abs(distance[:, np.newaxis] - distance[np.newaxis, :])[np.triu_indices(seeds, 1)]


def gate_noise(values: dict[str, list[float | None]], seeds: int) -> dict[str, dict[str, float]]:
    """What `fairvision check` sees between two single training runs of the same procedure: for every
    comparison with the reference group defined in every seed and every pair of seeds, the change in its
    distance from parity (|d|, or |ln r| for a ratio: ``summary.distances_from_parity``); quantiles per kind."""
    from fairvision.audit.measures import COMPARISONS

    changes: dict[str, list[float]] = {"difference": [], "ratio": []}
    for key, series in values.items():
        metric = key.split(" · ")[-1]
        pairwise = pairwise_changes(series, metric, seeds) if " · vs_reference · " in key else None
        if pairwise is not None:
            changes[COMPARISONS[metric].kind].extend(pairwise.tolist())
    return {kind: {"pairs": len(v), "median": float(np.median(v)), "p90": float(np.quantile(v, 0.9)),
                   "p95": float(np.quantile(v, 0.95)), "p99": float(np.quantile(v, 0.99)), "max": float(np.max(v))}
            for kind, v in changes.items() if v}


# --- Report -----------------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3f}"


def render(summary: dict[str, Any], command: str) -> str:
    lines = ["# Seed variance: how much one training run's audit depends on its seed", "",
             "Made by `" + command + "` (the sections below are the runs kept in its work folder, each seed's "
             "audit included; the numbers below are in seed-variance.json). Every seed trains the same backbone "
             "on the same prepared data with params.yaml's settings; only the seed changes (`train.seeds: [S]`: "
             "weight initialisation, data order, augmentation draws). Each model is evaluated and audited by the "
             "pipeline's own stages.", ""]
    for variant, backbones in summary.items():
        title = ("With the planted bias (params.yaml)" if variant == "planted"
                 else "Without a plant (`synth.bias: none`)")
        lines += [f"## {title}", ""]
        for backbone, s in backbones.items():
            acc = s["accuracy"]
            counts = {v: list(s["verdicts"].values()).count(v) for v in ("fail", "inconclusive", "pass")}
            lines += [f"### {backbone} ({s['seeds']} seeds)", "",
                      f"Overall accuracy {fmt(acc['mean'])} ± {fmt(acc['sd'])} (sd), range "
                      f"[{fmt(acc['min'])}, {fmt(acc['max'])}]. Audit verdicts over seeds: "
                      + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + ".", "",
                      "| race group | n (test) | accuracy mean ± sd [min, max] | FPR mean ± sd [min, max] "
                      "| FNR mean ± sd [min, max] |", "|---|---|---|---|---|"]
            for group, rates in s["rates"].items():
                mark = " (planted)" if group == s["planted"] else " (reference)" if group == s["reference"] else ""
                cells = " | ".join(f"{fmt(r['mean'])} ± {fmt(r['sd'])} [{fmt(r['min'])}, {fmt(r['max'])}]"
                                   for r in (rates[rate] for rate in RATES))
                lines.append(f"| {group}{mark} | {s['n'][group]} | {cells} |")
            lines += ["", f"Of {s['comparisons_judged']} comparisons judged in every seed, "
                          f"{s['verdicts_differ']} got different verdicts from different seeds; "
                          f"{s['fail_and_pass']} were `fail` in one seed and `pass` in another; "
                          f"{s['fail_in_some_seed']} failed in at least one seed and "
                          f"{s['fail_in_every_seed']} in every seed."]
            if s["fail_and_pass_examples"]:
                lines += ["", "Examples of `fail` in one seed and `pass` in another: "
                          + "; ".join(f"`{k}`" for k in s["fail_and_pass_examples"]) + "."]
            below = [f"{g} {w['worse_in']}/{s['seeds']} (sign test p = {w['p']:.3f})"
                     for g, w in s["accuracy_below_reference"].items()]
            lines += ["", f"Race groups less accurate than the reference ({s['reference']}) in how many seeds: "
                      + "; ".join(below) + ". Caveat: every seed is evaluated on the same test images, so the sign "
                      "test asks whether the *training* favours a group on these images; a group worse in most "
                      "seeds may owe it to this test set's draw of hard images as much as to a cue of the "
                      "generator. Separating the two needs a fresh test set (another `synth.seed`) before "
                      "touching the generator."]
            lines += ["", "Across-seed standard deviation of each comparison's value (every partition, outcome and "
                      "group judged in every seed), by metric: median, 90th percentile and maximum over comparisons. "
                      "This is the noise a gate sees when it compares two single training runs.", "",
                      "| metric | comparisons | median sd | p90 sd | max sd |", "|---|---|---|---|---|"]
            for metric, v in s["value_sd_by_metric"].items():
                lines.append(f"| {metric} | {v['comparisons']} | {fmt(v['median'])} | {fmt(v['p90'])} "
                             f"| {fmt(v['max'])} |")
            lines += ["", "Change in distance from parity between two seeds (every comparison with the reference "
                      "group, every pair of seeds; |d| for differences, |ln r| for ratios): what `fairvision check` "
                      "sees when both sides are single training runs of the same procedure.", "",
                      "| kind | pairs | median | p90 | p95 | p99 | max |", "|---|---|---|---|---|---|---|"]
            for kind, v in s["gate_noise"].items():
                lines.append(f"| {kind} | {v['pairs']} | " + " | ".join(fmt(v[q]) for q in
                                                                      ("median", "p90", "p95", "p99", "max")) + " |")
            g = s.get("gate")
            if g:
                lines += ["", f"`fairvision check` between every pair of these seeds ({g['pairs']} pairs, both "
                          "directions, no allowance): "
                          f"{g['pairs_regressing']} pairs would be called a regression. Held out: with allowances "
                          f"taken from the pairs of seeds 0–{g['calibration_seeds'] - 1} only, "
                          f"{g['fresh_regressing']} of the {g['fresh_pairs']} pairs of the other seeds would still be "
                          "one."]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def check_pairs(variant: Path, backbone: str, seeds: list[int]) -> dict[tuple[int, int], dict[str, float]]:
    """`fairvision check`'s own statistics between every pair of seeds, with no training-noise allowance: per
    pair and metric, how far the paired Δ interval clears the margin in either direction (its lower end past the
    margin going one way, its upper end below minus the margin going back); only positive amounts matter."""
    import contextlib
    import dataclasses
    import itertools

    from fairvision.audit.check import run_check
    from fairvision.audit.gate import CheckSettings
    from fairvision.params import load_params

    settings = dataclasses.replace(CheckSettings.from_params(load_params(ROOT / "params.yaml")), training_noise={})
    excess: dict[tuple[int, int], dict[str, float]] = {}
    for first, second in itertools.combinations(seeds, 2):
        with contextlib.chdir(variant / f"seed-{second}"):
            result = run_check([f"{DATASET}/{backbone}"], str(variant / f"seed-{first}" / "audits"), settings)
        found: dict[str, float] = {}
        for finding in result.runs[0].findings:
            if finding.change != "not_judged" and math.isfinite(finding.low) and math.isfinite(finding.high):
                clears = max(finding.low, -finding.high) - finding.margin
                found[finding.metric] = max(found.get(finding.metric, 0.0), clears)
        excess[first, second] = found
    return excess


def gate_summary(excess: dict[tuple[int, int], dict[str, float]], seeds: list[int]) -> dict[str, Any]:
    """Allowances from every pair; pairs that would regress with none; the rule held out on fresh pairs."""
    def largest(pairs: list[dict[str, float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for found in pairs:
            for metric, value in found.items():
                out[metric] = max(out.get(metric, 0.0), value)
        return out

    calibration, fresh = seeds[:len(seeds) // 2], seeds[len(seeds) // 2:]
    allowed = largest([v for (a, b), v in excess.items() if a in calibration and b in calibration])
    fresh_pairs = [v for (a, b), v in excess.items() if a in fresh and b in fresh]
    return {"pairs": len(excess), "allowance": largest(list(excess.values())),
            "pairs_regressing": sum(any(x > 0 for x in v.values()) for v in excess.values()),
            "calibration_seeds": len(calibration), "fresh_pairs": len(fresh_pairs),
            "fresh_regressing": sum(any(x > allowed.get(m, 0.0) for m, x in v.items()) for v in fresh_pairs)}


def allowances(summary: dict[str, Any]) -> dict[str, float]:
    """params.yaml `check.training_noise`: per metric, the most by which a check between two seeds of any backbone
    on the default data (the planted variant) clears the margin, rounded up to 0.01."""
    found: dict[str, float] = {}
    for s in summary.get("planted", {}).values():
        for metric, value in s.get("gate", {}).get("allowance", {}).items():
            found[metric] = max(found.get(metric, 0.0), value)
    return {metric: math.ceil(value * 100 - 1e-9) / 100 for metric, value in sorted(found.items())}


def render_allowances(values: dict[str, float]) -> str:
    lines = ["## The gate's training-noise allowances", "",
             "`fairvision check` compares single training runs: a change within what two seeds of the same "
             "procedure differ by cannot be told from training randomness, so it is `inconclusive` "
             "(\"single training run on each side: training noise not measured\"), not a regression. These are "
             "params.yaml's `check.training_noise`: per metric, the most by which `fairvision check`'s paired Δ "
             "interval (|d|, or |ln r| for a ratio) cleared the margin between any two seeds of any backbone "
             "above, with the planted bias, rounded up to 0.01. They are measured on the demo's synthetic data: "
             "on other data, measure again (this script's approach, or several `train.seed` values) before "
             "relying on them.", "", "```yaml",
             "check:", "  training_noise:"]
    lines += [f"    {metric}: {value:.2f}" for metric, value in values.items()]
    return "\n".join([*lines, "```", ""])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    if args.render:
        kept = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        summary = {variant: {backbone: s | ({"gate": kept["gate"][variant][backbone]}
                                            if backbone in kept["gate"].get(variant, {}) else {})
                             for backbone, s in sorted(kept["summary"][variant].items(),
                                                       key=lambda item: BACKBONES.index(item[0]))}
                   for variant in VARIANTS if variant in kept["summary"]}  # the order of a run, not the file's
        write_report(args.out, summary, "scripts/seed_variance.py")
        return 0
    for variant in args.variants:
        folder = workdir / variant
        print(f"{variant}: synth + prepare", flush=True)
        prepare_variant(folder, VARIANTS[variant], args.backbones)
        for backbone in args.backbones:
            for seed in range(args.seeds):
                train_seed(folder, VARIANTS[variant], args.backbones, backbone, seed)
    results = collect(workdir, args.variants, args.backbones, args.seeds)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    planted = planted_group(params["synth"]["bias"])
    summary = {variant: {backbone: summarise(records, planted if variant == "planted" else None)
                         for backbone, records in backbones.items()}
               for variant, backbones in results.items()}
    for variant, backbones in results.items():
        for backbone, records in backbones.items():
            seeds = [record["seed"] for record in records]
            if len(seeds) >= 4:
                print(f"checking every pair of {variant} {backbone} seeds", flush=True)
                summary[variant][backbone]["gate"] = gate_summary(check_pairs(workdir / variant, backbone, seeds),
                                                                  seeds)
    command = " ".join(["scripts/seed_variance.py", *([f"--seeds {args.seeds}"] if args.seeds != 10 else []),
                        *([f"--variants {' '.join(args.variants)}"] if args.variants != list(VARIANTS) else []),
                        *([f"--backbones {' '.join(args.backbones)}"] if args.backbones != BACKBONES else [])])
    write_report(args.out, summary, command)
    return 0


def write_report(out: Path, summary: dict[str, Any], command: str) -> None:
    """docs/seed-variance.{md,json}: the rendered study and the numbers it shows."""
    out.parent.mkdir(parents=True, exist_ok=True)
    gate = {variant: {backbone: s["gate"] for backbone, s in backbones.items() if "gate" in s}
            for variant, backbones in summary.items()}
    compact = {variant: {backbone: {key: value for key, value in s.items() if key != "gate"}
                         for backbone, s in backbones.items()} for variant, backbones in summary.items()}
    out.with_suffix(".json").write_text(json.dumps({"summary": compact, "gate": gate}, indent=1,
                                                   sort_keys=True, allow_nan=True) + "\n", encoding="utf-8")
    text = render(summary, command) + ("\n" + render_allowances(allowances(summary)) if "planted" in summary else "")
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(f"wrote {out.with_suffix('.md')} and .json")


if __name__ == "__main__":
    sys.exit(main())
