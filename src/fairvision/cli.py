"""The `fairvision` command: one sub-command per pipeline stage, thin by design.

Each sub-command parses arguments, loads params.yaml and calls the stage function that
DVC and Kubeflow call too; heavy libraries are imported only once a stage runs, so
`--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from fairvision import __version__, layout
from fairvision.errors import FairvisionError
from fairvision.params import Dataset, Params, load_params

DESCRIPTION = """\
Reproducible fairness audits of image classifiers.

The pipeline (run it all with `dvc repro`; each stage is also a sub-command here). Every backbone
B in params.yaml `backbones` is trained and audited on every dataset D in `datasets`; with one
dataset, --dataset may be left out.
  synth       -> data/raw/synthetic/        FairFace-format synthetic dataset with a planted bias
  prepare     -> data/prepared/<D>/         manifest.parquet, shards/*.tfrecord, datasheet.json, rejected.csv
  train B     -> models/<D>/<B>/            SavedModel (bytes in, probabilities out), labels.txt, train.json
                 training/<D>/<B>/history.csv, timings/<D>/<B>.json   per-epoch metrics; wall time, images/s
  evaluate B  -> audits/<D>/<B>/predictions.parquet
  audit B     -> audits/<D>/<B>/fairness.json   AIF360 metrics per group, bootstrap intervals, verdicts
                 audits/<D>/<B>/headline.json, groups/<D>/<B>/   `dvc exp show` metrics; per-group bars
  explain B   -> audits/<D>/<B>/explanations/   Grad-CAM, integrated gradients, LIME per group; disparity, faithfulness
  report      -> reports/<D>/               index.html, <B>.html, <B>.card.json

After the pipeline, `fairvision check --baseline REV` fails CI when fairness regressed, and
`fairvision serve models/<D>/<B>` serves a trained model over TF Serving's and KServe's REST protocols.
Every knob lives in params.yaml (see its comments)."""


def _synth(params: Params, args: argparse.Namespace) -> None:
    from fairvision.data.synthetic import generate

    generate(params.synth, args.out or layout.SYNTHETIC_DIR)


def _dataset(params: Params, name: str | None) -> Dataset:
    """The dataset ``--dataset`` names; without it, the only one in params.yaml."""
    if name is None:
        if len(params.datasets) > 1:
            raise FairvisionError(f"params.yaml `datasets` names {len(params.datasets)} datasets "
                                  f"({', '.join(params.datasets)}): say which with --dataset")
        return next(iter(params.datasets.values()))
    if name not in params.datasets:
        raise FairvisionError(f"dataset {name!r} is not in params.yaml `datasets` ({', '.join(params.datasets)})")
    return params.datasets[name]


def _backbone_options(params: Params, backbone: str) -> dict:
    if backbone not in params.backbones:
        raise FairvisionError(
            f"backbone {backbone!r} is not in params.yaml `backbones` ({', '.join(params.backbones)})"
        )
    return dict(params.backbones[backbone])


def _prepare(params: Params, args: argparse.Namespace) -> None:
    from fairvision.data.prepare import prepare

    dataset = _dataset(params, args.dataset)
    prepare(dataset, params.prepare, args.out or layout.prepared_dir(dataset.name),
            min_group_size=params.audit.min_group_size)


def _train(params: Params, args: argparse.Namespace) -> None:
    from fairvision.models.train import train

    dataset, options = _dataset(params, args.dataset).name, _backbone_options(params, args.backbone)
    train(args.backbone, options, params.train, layout.prepared_dir(dataset),
          args.out or layout.model_dir(dataset, args.backbone),
          args.history or layout.history_path(dataset, args.backbone),
          args.timing or layout.timing_path(dataset, args.backbone),
          checkpoint_dir=None if args.no_checkpoint else layout.checkpoint_dir(dataset, args.backbone))


def _evaluate(params: Params, args: argparse.Namespace) -> None:
    from fairvision.models.predict import evaluate

    dataset = _dataset(params, args.dataset).name
    _backbone_options(params, args.backbone)
    evaluate(layout.model_dir(dataset, args.backbone), layout.prepared_dir(dataset), params.evaluate.batch_size,
             layout.audit_dir(dataset, args.backbone) / "predictions.parquet")


def _audit(params: Params, args: argparse.Namespace) -> None:
    from fairvision.audit.stage import audit

    dataset = _dataset(params, args.dataset)
    _backbone_options(params, args.backbone)
    folder = layout.audit_dir(dataset.name, args.backbone)
    audit(args.backbone, folder / "predictions.parquet",
          layout.prepared_dir(dataset.name), dataset, params.audit, folder / "fairness.json",
          groups_dir=layout.groups_dir(dataset.name, args.backbone))


def _explain(params: Params, args: argparse.Namespace) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # lime's per-image bar has no switch; tqdm reads this when imported
    from fairvision.explain.stage import explain

    dataset = _dataset(params, args.dataset)
    _backbone_options(params, args.backbone)
    explain(args.backbone, layout.model_dir(dataset.name, args.backbone), layout.prepared_dir(dataset.name),
            layout.audit_dir(dataset.name, args.backbone), dataset, params.explain,
            layout.explanations_dir(dataset.name, args.backbone))


def _report(params: Params, args: argparse.Namespace) -> None:
    from fairvision.report.render import render_reports

    name = _dataset(params, args.dataset).name
    out = args.out or layout.report_dir(name)
    render_reports(list(params.backbones), layout.AUDITS_DIR / name, layout.MODELS_DIR / name,
                   layout.TRAINING_DIR / name, layout.TIMINGS_DIR / name,
                   layout.prepared_dir(name) / "datasheet.json", out)
    logging.getLogger("fairvision").info("report: %s", os.path.join(out, "index.html"))


def _check(params: Params, args: argparse.Namespace) -> int:
    from fairvision.audit.check import render, run_check
    from fairvision.audit.gate import CheckSettings

    datasets = [_dataset(params, name).name for name in args.datasets] if args.datasets else list(params.datasets)
    backbones = args.backbones or list(params.backbones)
    for backbone in backbones:
        _backbone_options(params, backbone)
    runs = [layout.run_name(dataset, backbone) for dataset in datasets for backbone in backbones]
    result = run_check(runs, args.baseline, CheckSettings.from_params(params))
    sys.stdout.write(render(result, args.format))
    return result.exit_status


def _serve(params: None, args: argparse.Namespace) -> None:
    from fairvision.serve import ServeOptions, serve

    options = ServeOptions(name=args.name or Path(args.model_dir).resolve().name, version=args.model_version,
                           max_batch_size=args.max_batch_size, batch_timeout_ms=args.batch_timeout_ms,
                           max_body_bytes=args.max_body_bytes, max_image_pixels=args.max_image_pixels)
    serve(args.model_dir, options, host=args.host, port=args.port)


CHECK_USAGE_ERROR = 3  # `fairvision check` could not run; 1 and 2 are its regression and inconclusive


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with the command's ``error_status`` (argparse's 2 by default).

    `fairvision check` gives 1 and 2 meanings of its own (regression, inconclusive), so its bad
    arguments must not look like either to a CI job.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.get_default("error_status") or 2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fairvision", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"fairvision {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, run: Callable, help_text: str, description: str, *,
                one_dataset: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
        if one_dataset:
            sub.add_argument("--dataset", metavar="D",
                             help="a key of params.yaml `datasets` (default: the only one there)")
        sub.set_defaults(run=run)
        return sub

    synth = command("synth", _synth, "write the synthetic FairFace-format dataset",
                    "Write a synthetic dataset in FairFace's published format: fairface_label_train.csv,\n"
                    "fairface_label_val.csv (header file,age,gender,race,service_test) and\n"
                    "fairface-img-margin025-trainval.zip (margin125 for `synth.padding: 1.25`) with\n"
                    "train/<n>.jpg and val/<n>.jpg.\n"
                    "Procedural face-like images; the bias planted per params.yaml `synth.bias` is the\n"
                    "audit's ground truth. Deterministic for `synth.seed`.", one_dataset=False)
    synth.add_argument("--out", help=f"output folder (default: {layout.SYNTHETIC_DIR}); an existing folder is "
                                     "replaced only if synth wrote it")

    prepare = command("prepare", _prepare, "validate the dataset; write manifest, shards, datasheet",
                      "Read dataset D of params.yaml `datasets` at its `path` (a folder or s3://bucket/prefix)\n"
                      "in its `format`: fairface (label CSVs + image zip or extracted folders),\n"
                      "cloud_annotations (_annotations.json next to the images; localization boxes are\n"
                      "cropped) or image_folder (<label>/<image> or <split>/<label>/<image>), with protected\n"
                      "attributes from FairFace's CSVs or the side CSV its `attributes` names. Validate every\n"
                      "example and write to data/prepared/<D>/: manifest.parquet (id, image, split,\n"
                      "label, one column per attribute, sha256), shards/<split>-NNNNN-of-MMMMM.tfrecord,\n"
                      "datasheet.json (counts per split, label and group; warnings) and rejected.csv (every\n"
                      "example that failed validation, with the reason). Splits the source does not fix are\n"
                      "carved by a hash of the id. S3 credentials come from the AWS environment.")
    prepare.add_argument("--out", help="output folder (default: data/prepared/<D>)")

    train = command("train", _train, "train one backbone; export a SavedModel",
                    "Train backbone B (a key of params.yaml `backbones`) on dataset D's prepared shards with\n"
                    "a seeded custom loop, and write models/<D>/<B>/: a SavedModel whose serving_default\n"
                    "signature takes encoded image bytes and returns probabilities and class names,\n"
                    "labels.txt and train.json (all determined by the seed), plus\n"
                    "training/<D>/<B>/history.csv (per-epoch loss and accuracy) and timings/<D>/<B>.json (wall\n"
                    "time, images/s), kept outside the model so a retrain with identical weights changes\n"
                    "nothing downstream. Runs on every local GPU (mixed precision), or on every worker\n"
                    "of a Kubeflow TFJob (TF_CONFIG). A killed run started again resumes from its last\n"
                    "finished epoch and ends with the same weights as an uninterrupted one.")
    train.add_argument("backbone", help="backbone name, e.g. small_cnn or mobilenet_v2")
    train.add_argument("--out", help="model folder (default: models/<D>/<B>)")
    train.add_argument("--history", help="per-epoch metrics CSV (default: training/<D>/<B>/history.csv)")
    train.add_argument("--timing", help="wall time and images/s JSON (default: timings/<D>/<B>.json)")
    train.add_argument("--no-checkpoint", action="store_true",
                       help="keep no per-epoch state (by default it is kept in .fairvision/checkpoints/<D>/<B>/ "
                            "while training, so a killed run started again resumes where it stopped)")

    evaluate = command("evaluate", _evaluate, "predict the test split with a trained backbone",
                       "Run models/<D>/<B>'s exported signature over dataset D's test shards and write\n"
                       "audits/<D>/<B>/predictions.parquet: id, label, pred, prob_<class> per class, and the\n"
                       "protected attributes.")
    evaluate.add_argument("backbone", help="backbone name")

    audit = command("audit", _audit, "per-group metrics with intervals and verdicts (AIF360)",
                    "Audit audits/<D>/<B>/predictions.parquet for every protected attribute and configured\n"
                    "intersection: each group's rates, and 14 AIF360 metrics against the reference group\n"
                    "and against the rest (statistical parity, disparate impact, equal opportunity, odds,\n"
                    "error/FPR/FNR rates, ...), with group-stratified bootstrap intervals made simultaneous\n"
                    "per table and a verdict each: pass (interval within params.yaml `audit.tolerance`),\n"
                    "fail (wholly beyond) or inconclusive. Groups below `audit.min_group_size` are\n"
                    "reported as insufficient data. Point values are cross-checked against AIF360.\n"
                    "Writes audits/<D>/<B>/fairness.json and headline.json (DVC metrics), and groups/<D>/<B>/.")
    audit.add_argument("backbone", help="backbone name")

    explain = command("explain", _explain, "where the model looks, per group: saliency maps, disparity, faithfulness",
                      "Explain models/<D>/<B> (through the endpoints its export adds beside serving_default) on a\n"
                      "seeded sample of the test split: params.yaml `explain.images_per_group` images per group of\n"
                      "each protected attribute, half correctly predicted where possible, each explained with\n"
                      "Grad-CAM, integrated gradients and AIX360's LIME (`explain.methods`). Writes\n"
                      "audits/<D>/<B>/explanations/: explanations.json (per method and group: the disparity of its\n"
                      "mean map from the audit's reference group, with a bootstrap interval and a permutation\n"
                      "test; per method: deletion and insertion AUCs against a random map) and PNGs of each\n"
                      "group's mean maps (all, correct, incorrect) and of the sampled images' overlays.\n"
                      "Reads audits/<D>/<B>/predictions.parquet and fairness.json: run evaluate and audit first.")
    explain.add_argument("backbone", help="backbone name")

    report = command("report", _report, "render the HTML fairness report cards",
                     "Render dataset D's report: reports/<D>/index.html (all backbones side by side),\n"
                     "reports/<D>/<B>.html (a model card per backbone) and reports/<D>/<B>.card.json from\n"
                     "the audits, training summaries and the datasheet. Self-contained HTML: no network\n"
                     "fetches.")
    report.add_argument("--out", help="output folder (default: reports/<D>)")

    check = command("check", _check, "fail when fairness regressed against a baseline audit (the CI gate)",
                    "Compare audits/<D>/<B>/fairness.json (and predictions.parquet) in the working tree with\n"
                    "a baseline: an audits folder holding <D>/<B>/fairness.json, or a git revision read through\n"
                    "DVC. With both prediction tables, a paired bootstrap over the shared image ids gives an\n"
                    "interval for each comparison's change in distance from parity; without them, the two\n"
                    "audits' intervals are compared (unpaired, conservative). A change is a regression when\n"
                    "its whole interval lies above the margin in params.yaml `check`.\n\n"
                    "The margins and the audit's min_group_size, level and method may not be looser than the\n"
                    "baseline's (its params.yaml at a revision, its fairness.json): a change cannot loosen the\n"
                    "gate that checks it. What the baseline judged must still be judged: a partition or group\n"
                    "gone from the audit, or a comparison judged before and not now, is inconclusive.\n\n"
                    "exit status:\n"
                    "  0  no regression\n"
                    "  1  a regression (at least one comparison's interval wholly above its margin)\n"
                    "  2  inconclusive: no regression shown, but a gap grew past a margin with an interval\n"
                    "     reaching below it, something the baseline judged is not judged now, or nothing\n"
                    "     could be judged\n"
                    "  3  the check could not run: bad arguments, a missing or broken file, audits of\n"
                    "     different evaluation sets, predictions that are not the audited ones, or settings\n"
                    "     that loosen the baseline's", one_dataset=False)
    check.add_argument("backbones", nargs="*", metavar="BACKBONE",
                       help="backbones to check (default: every one in params.yaml `backbones`)")
    check.add_argument("--dataset", dest="datasets", action="append", metavar="D",
                       help="a dataset to check; repeat for several (default: every one in params.yaml `datasets`)")
    check.add_argument("--baseline", required=True, metavar="REV_OR_PATH",
                       help="an audits folder holding <D>/<B>/fairness.json, or a git revision such as origin/main")
    check.add_argument("--format", choices=("text", "markdown"), default="text",
                       help="text for a terminal or CI log, markdown for a pull-request comment (default: text)")
    check.set_defaults(error_status=CHECK_USAGE_ERROR)  # 1 and 2 mean regression and inconclusive

    serve = commands.add_parser(
        "serve", help="serve a trained model over TF Serving's and KServe's REST protocols",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve a model folder written by `fairvision train` (models/<D>/<B>: a SavedModel whose\n"
                    "serving_default signature takes encoded images) over HTTP until interrupted, speaking\n"
                    "  TensorFlow Serving's REST API: GET /v1/models/NAME, GET /v1/models/NAME/metadata,\n"
                    "    POST /v1/models/NAME:predict with {\"instances\": [{\"b64\": \"<base64 image>\"}, ...]}\n"
                    "    or {\"inputs\": ...} (also under /versions/V); and\n"
                    "  KServe's V2 protocol: GET /v2/health/live, /v2/health/ready, /v2/models/NAME[/ready],\n"
                    "    POST /v2/models/NAME/infer with one BYTES input of base64-encoded images;\n"
                    "plus Prometheus metrics at GET /metrics. Requests arriving together are batched into\n"
                    "one model call. Reads no params.yaml: the model folder is self-contained.")
    serve.add_argument("model_dir", metavar="MODEL_DIR", help="model folder, e.g. models/synthetic/small_cnn")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s; 0.0.0.0 exposes it to the network)")
    serve.add_argument("--port", type=int, default=8501, metavar="PORT",
                       help="port (default: %(default)s, TF Serving's REST port; 0: any free port, logged at start)")
    serve.add_argument("--name", help="model name in the URLs (default: the folder's name)")
    serve.add_argument("--version", dest="model_version", type=int, default=1, metavar="V",
                       help="model version it answers for (default: %(default)s)")
    serve.add_argument("--max-batch-size", type=int, default=32, metavar="N", help="most images per model call (default: %(default)s)")
    serve.add_argument("--batch-timeout-ms", type=float, default=0.0, metavar="MS",
                       help="how long a model call waits for more images after the first (default: %(default)s: "
                            "start as soon as the model is free; images arriving meanwhile join the next call)")
    serve.add_argument("--max-body-bytes", type=int, default=16 * 2**20, metavar="BYTES",
                       help="larger request bodies are answered 413 (default: %(default)s)")
    serve.add_argument("--max-image-pixels", type=int, default=40_000_000, metavar="PIXELS",
                       help="larger images (width x height, read from the header) are answered 400 "
                            "(default: %(default)s)")
    serve.set_defaults(run=_serve, params=None)  # no params.yaml: a model folder is self-contained
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported here, not by argparse, so that the command's own usage-error status applies
        parser.print_usage(sys.stderr)
        parser.exit(getattr(args, "error_status", 2), f"{parser.prog}: error: unrecognized arguments: "
                                                       f"{' '.join(unknown)}\n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="fairvision: %(message)s", stream=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # SavedModel export chatter
    try:
        status = args.run(load_params(args.params) if args.params else None, args)
    except FairvisionError as error:
        print(f"fairvision: error: {error}", file=sys.stderr)
        return getattr(args, "error_status", 1)
    except KeyboardInterrupt:
        print("fairvision: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
