"""`fairvision serve MODEL_DIR`: a trained model over TF Serving's and KServe's REST protocols."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fairvision.command import Command, start_tensorflow


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="model folder, e.g. models/synthetic/small_cnn/seed-0, or "
                                                               "a base of numbered versions (`fairvision publish-model`"
                                                               "'s layout, TF Serving's): the newest is served")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=8501, metavar="PORT",
                        help="port (default: %(default)s, TF Serving's REST port; 0: any free port, logged at start)")
    parser.add_argument("--name", help="model name in the URLs (default: the backbone's name, i.e. the folder's, or "
                                       "its parent's for a seed-<S> folder)")
    parser.add_argument("--version", dest="model_version", type=int, metavar="V",
                        help="model version it answers for (default: the served version folder's number, else 1)")
    parser.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                        help="most images per model call (default: %(default)s)")
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0, metavar="MS",
                        help="how long a model call waits for more images after the first (default: %(default)s: "
                             "start as soon as the model is free; images arriving meanwhile join the next call)")
    parser.add_argument("--max-body-bytes", type=int, default=16 * 2**20, metavar="BYTES",
                        help="larger request bodies are answered 413 (default: %(default)s)")
    parser.add_argument("--max-image-pixels", type=int, default=40_000_000, metavar="PIXELS",
                        help="larger images (width x height, read from the header) are answered 400 "
                             "(default: %(default)s)")
    parser.add_argument("--intra-op-threads", type=int, metavar="N",
                        help="threads TensorFlow uses inside one operation (default: TensorFlow's choice, from the "
                             "cores; 1 lowers the latency of small batches, as TF Serving's "
                             "--tensorflow_intra_op_parallelism)")
    parser.add_argument("--inter-op-threads", type=int, metavar="N",
                        help="threads TensorFlow runs independent operations on (default: TensorFlow's choice; as "
                             "TF Serving's --tensorflow_inter_op_parallelism)")


def run(params: None, args: argparse.Namespace) -> None:
    from fairvision.serve.options import ServeOptions, default_name, newest_version, require_model_folder

    newest = newest_version(args.model_dir)
    if newest is not None:  # a base of numbered versions: serve the newest, as TF Serving does
        args.model_dir, version = newest
        args.model_version = args.model_version or version
    options = ServeOptions(name=args.name or default_name(args.model_dir), version=args.model_version or 1,
                           max_batch_size=args.max_batch_size, batch_timeout_ms=args.batch_timeout_ms,
                           max_body_bytes=args.max_body_bytes, max_image_pixels=args.max_image_pixels,
                           intra_op_threads=args.intra_op_threads, inter_op_threads=args.inter_op_threads)
    require_model_folder(args.model_dir)
    start_tensorflow()  # only once the arguments are known to be good
    from fairvision.serve.server import serve

    serve(args.model_dir, options, host=args.host, port=args.port)


COMMAND = Command(
    "serve", "serve a trained model over TF Serving's and KServe's REST protocols",
    "Serve a model folder written by `fairvision train` (models/<D>/<B>/seed-<S>: a SavedModel whose\n"
    "serving_default signature takes encoded images) over HTTP until interrupted, speaking\n"
    "  TensorFlow Serving's REST API: GET /v1/models/NAME, GET /v1/models/NAME/metadata,\n"
    "    POST /v1/models/NAME:predict with {\"instances\": [{\"b64\": \"<base64 image>\"}, ...]}\n"
    "    or {\"inputs\": ...} (also under /versions/V); and\n"
    "  KServe's V2 protocol: GET /v2/health/live, /v2/health/ready, /v2/models/NAME[/ready],\n"
    "    POST /v2/models/NAME/infer with one BYTES input of base64-encoded images;\n"
    "plus Prometheus metrics at GET /metrics. Requests arriving together are batched into\n"
    "one model call. Reads no params.yaml: the model folder is self-contained.",
    add_arguments, run, params=False, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
