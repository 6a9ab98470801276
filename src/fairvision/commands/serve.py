"""`fairvision serve MODEL_DIR`: a trained model over TF Serving's and KServe's REST protocols."""

from __future__ import annotations

import argparse
import sys

from fairvision.command import Command, start_tensorflow
from fairvision.serve import options as limits


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
    parser.add_argument("--max-image-pixels", type=int, metavar="PIXELS",
                        help="larger images (width x height, x frames for a GIF, read from the header before "
                             f"decoding) are answered 400 (default: {limits.INPUT_PIXELS_MULTIPLE} x the model's "
                             f"input pixels, at least {limits.PHOTO_PIXELS:,} = 4096 x 4096, so a 12 MP photo "
                             "fits: 16,777,216 for models up to 256 px)")
    parser.add_argument("--max-images-per-request", type=int, default=limits.MAX_IMAGES_PER_REQUEST, metavar="N",
                        help="a request with more images is answered 413 (default: %(default)s)")
    parser.add_argument("--max-queued-images", type=int, default=limits.MAX_QUEUED_IMAGES, metavar="N",
                        help="most images waiting for the model; a request that would pass it is answered 503 with "
                             "Retry-After (default: %(default)s; at least --max-images-per-request)")
    parser.add_argument("--limit-concurrency", type=int, default=limits.LIMIT_CONCURRENCY, metavar="N",
                        help="with N connections open (the requesting one included) or N requests in progress, a "
                             "request is answered 503 (uvicorn's --limit-concurrency; default: %(default)s; under "
                             "load uvicorn counts up to 2 requests per busy connection, so allow twice the clients' "
                             "connections). Memory beyond the model stays "
                             f"within about N x {limits.BODY_COPIES} x --max-body-bytes + "
                             f"{limits.DECODE_BYTES_PER_PIXEL} bytes x max(--max-image-pixels, --max-batch-size x "
                             "the input's pixels): about 3.1 GiB at the defaults for a model of up to 256 px; the "
                             "log line at start gives it")
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
                           max_images_per_request=args.max_images_per_request,
                           max_queued_images=args.max_queued_images, limit_concurrency=args.limit_concurrency,
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
    "one model call. Memory is bounded: images over --max-image-pixels, requests over\n"
    "--max-images-per-request or --max-body-bytes are refused (400, 413); past --max-queued-images\n"
    "waiting or --limit-concurrency connections the server answers 503 (retry later).\n"
    "Reads no params.yaml: the model folder is self-contained.",
    add_arguments, run, params=False, one_dataset=False)

if __name__ == "__main__":
    sys.exit(COMMAND.main())
