"""End-to-end: a bias planted on a hidden attribute, found by discovery from the model's embeddings alone.

Each run is a fresh project from the repository's params.yaml: the synthetic generator draws
the hidden attribute ``glasses`` (dark lenses over the eyes) on a share of the faces and plants
the bias on ``glasses: "yes"`` as the default plants it on a race (a quarter of those train
rows kept, a weak gender cue, a tenth of their labels flipped); nothing else is planted.
Glasses are not an attribute of the dataset: they are written only to the generator's side
file (``hidden_attributes.csv``), which fairvision never reads. Then ``prepare``, ``train``,
``evaluate`` and ``discover`` run as `dvc repro` runs them (their commands, in the project),
with the shipped `discover` settings; the study reads the side file only to score the result.

A run **finds** the plant when discovery selects an embedding cohort (any gap) of which at
least half wear glasses, 2.5 times their share (the card cannot name glasses: its description
reads the dataset's attributes only, as it would for a user's cohort). Reported: how often, with a Wilson 95 % interval; per run the best such
cohort's precision (share with glasses) and recall (share of the confirm half's glasses it
holds), the model's accuracy, and every selected labelled cohort (no labelled attribute
carries the plant, so those are what the model fails otherwise, or false discoveries).

    .venv/bin/python scripts/hidden_discovery.py [--runs 8] [--prevalence 0.2] [--out docs/hidden_discovery.json]

About 2.5 minutes a run on 2 cores (training dominates). Writes the JSON and the table in
docs/discovery.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
BACKBONE = "small_cnn"
DATASET = "synthetic"
MARKERS = ("<!-- hidden-attribute study: scripts/hidden_discovery.py -->", "<!-- end of hidden-attribute study -->")


def project(folder: Path, seed: int, prevalence: float) -> None:
    """A project folder: the repository's params.yaml with the hidden plant, one backbone, one training seed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    bias = params["synth"]["bias"]
    params["synth"].update(seed=seed, hidden={"glasses": prevalence},
                           bias={"where": {"glasses": "yes"}, "train_fraction": bias["train_fraction"],
                                 "contrast": bias["contrast"], "label_noise": bias["label_noise"]})
    params["backbones"] = {BACKBONE: params["backbones"][BACKBONE]}
    params["train"]["seeds"] = [0]
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")


def stage(folder: Path, *arguments: str) -> None:
    """Run one stage's command in the project, as dvc.yaml runs it."""
    command = [sys.executable, "-m", "fairvision.cli", *arguments]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode:
        raise SystemExit(f"{shlex.join(arguments)} failed in {folder}:\n{done.stderr[-3000:]}")


def score(folder: Path) -> dict[str, Any]:
    """Discovery's result against the side file's truth."""
    from fairvision.discover.embedding import EmbeddingCohort
    from fairvision.discover.options import discover_options, favorable_label
    from fairvision.discover.stage import discover_stage
    from fairvision import layout
    from fairvision.params import load_params, read_params_file

    os.chdir(folder)
    params = load_params("params.yaml")
    settings, _ = discover_options(read_params_file("params.yaml").section("discover"), params.audit)
    predictions = layout.predictions_path(DATASET, BACKBONE, 0)
    table = pd.read_parquet(predictions)
    truth = pd.read_csv(folder / "data/raw/synthetic/hidden_attributes.csv")
    glasses = dict(zip(truth["file"].str.rsplit(".", n=1).str[0], truth["glasses"] == "yes"))
    datasheet = json.loads((layout.prepared_dir(DATASET) / "datasheet.json").read_text(encoding="utf-8"))
    dataset = params.datasets[DATASET]
    written = (layout.audit_dir(DATASET, BACKBONE) / "cohorts.json").read_bytes()
    # the stage function the discover command ran, again (same inputs: the same bytes), for the cohorts' membership
    again = Path(tempfile.mkdtemp()) / "cohorts.json"
    found = discover_stage(predictions, again, labels=datasheet["labels"],
                           favorable=favorable_label(params.audit, datasheet["labels"], "params.yaml"),
                           protected=dataset.protected, extra_columns=(),
                           settings=settings, model_dir=layout.model_dir(DATASET, BACKBONE, 0),
                           prepared_dir=layout.prepared_dir(DATASET))
    if again.read_bytes() != written:
        raise SystemExit(f"{folder}: the discover stage did not give the same cohorts.json twice")
    wearing = np.array([glasses[i] for i in found.confirm_ids])
    cohorts = []
    for finding in found.selected:
        cohort = finding.candidate.cohort
        if not isinstance(cohort, EmbeddingCohort):
            continue
        members = found.confirm_membership[:, found.rules.cohorts.index(cohort)]
        cohorts.append({"cohort": cohort.name, "metric": finding.candidate.metric, "n": int(members.sum()),
                        "precision": float(wearing[members].mean()) if members.any() else 0.0,
                        "recall": float((wearing & members).sum() / max(wearing.sum(), 1)),
                        "gap": finding.gap, "low": finding.low, "verdict": finding.verdict})
    accuracy = float((table["label"] == table["pred"]).mean())
    labelled = sorted({f.candidate.cohort.name for f in found.selected
                       if not isinstance(f.candidate.cohort, EmbeddingCohort)})
    hits = [c for c in cohorts if c["precision"] >= 0.5]
    return {"accuracy": accuracy, "confirm_rows": len(found.confirm_ids), "glasses_in_confirm": int(wearing.sum()),
            "embedding_selected": cohorts, "labelled_selected": labelled, "found": bool(hits),
            "best": max(hits or cohorts, key=lambda c: c["precision"], default=None)}


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    z = norm.ppf(1 - (1 - level) / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return (centre - half, centre + half)


def table(result: dict[str, Any]) -> str:
    runs = result["runs"]
    k, n = sum(r["found"] for r in runs), len(runs)
    low, high = wilson(k, n)
    lines = [MARKERS[0], f"`{result['command']}`: {n} runs, glasses on {result['prevalence']:.0%} of faces, "
             f"{result['minutes']:.0f} minutes. Found in **{k} of {n}** runs (Wilson 95 % interval "
             f"{low:.0%}–{high:.0%}).", "",
             "| run (synth seed) | accuracy | embedding cohorts selected | best: precision / recall of glasses | "
             "found | labelled cohorts selected |", "|---|---:|---:|---|---|---|"]
    for r in runs:
        best = r["best"]
        shown = f"{best['precision']:.0%} / {best['recall']:.0%} ({best['cohort']})" if best else "–"
        lines.append(f"| {r['seed']} | {r['accuracy']:.3f} | {len(r['embedding_selected'])} | {shown} | "
                     f"{'yes' if r['found'] else 'no'} | {', '.join(r['labelled_selected']) or 'none'} |")
    lines.append(MARKERS[1])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=101, help="synth seed of the first run (then +1 per run)")
    parser.add_argument("--prevalence", type=float, default=0.2, help="share of faces with glasses")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/hidden_discovery.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs/discovery.md")
    args = parser.parse_args()
    from fairvision.files import write_json, write_text

    started, runs = time.monotonic(), []
    for seed in range(args.first_seed, args.first_seed + args.runs):
        folder = Path(tempfile.mkdtemp(prefix="hidden-")) / "project"
        project(folder, seed, args.prevalence)
        try:
            for arguments in (["synth"], ["prepare"], ["train", BACKBONE, "--no-checkpoint"], ["evaluate", BACKBONE],
                              ["discover", BACKBONE]):
                stage(folder, *arguments)
            runs.append({"seed": seed, **score(folder)})
        finally:
            os.chdir(ROOT)
            shutil.rmtree(folder.parent)
        print(f"run {seed}: found={runs[-1]['found']} best={runs[-1]['best']}", flush=True)
    command = "scripts/hidden_discovery.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in (("runs", args.runs), ("first_seed", args.first_seed),
                                                    ("prevalence", args.prevalence)))
    result = {"command": f".venv/bin/python {command}", "prevalence": args.prevalence,
              "minutes": (time.monotonic() - started) / 60, "runs": runs}
    write_json(args.out, result)
    doc = args.doc.read_text(encoding="utf-8")
    if MARKERS[0] in doc:
        doc = doc[:doc.index(MARKERS[0])] + table(result) + doc[doc.index(MARKERS[1]) + len(MARKERS[1]):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + table(result) + "\n"
    write_text(args.doc, doc)
    print(table(result))


if __name__ == "__main__":
    main()
