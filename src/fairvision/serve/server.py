"""`fairvision serve`: load a model folder, bind the address, run the app under uvicorn until interrupted."""

from __future__ import annotations

import gc
import logging
import socket
import warnings
from pathlib import Path

import uvicorn
from PIL import Image

from fairvision.errors import FairvisionError
from fairvision.serve.app import create_app
from fairvision.serve.model import load_model
from fairvision.serve.options import ServeOptions

log = logging.getLogger("fairvision")


def serve(model_dir: str | Path, options: ServeOptions, *, host: str = "127.0.0.1", port: int = 8501) -> None:
    """Serve ``model_dir`` on ``host``:``port`` (0: any free port; the log line gives the bound address)."""
    _set_threads(options)
    model = load_model(model_dir)
    # The pixel limit (at most Pillow's own) rejects such images with a reason; Pillow's warning would only add noise.
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    app = create_app(model, options)
    listener = _bind(host, port)
    bound_host, bound_port = listener.getsockname()[:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    log.info("serving %s version %d (%s) on http://%s:%d  (TF Serving REST: /v1/models/%s, KServe V2: /v2/models/%s, "
             "metrics: /metrics)", options.name, options.version, model.path, url_host, bound_port,
             options.name, options.name)
    log.info("limits: images up to %s pixels (--max-image-pixels), %d per request, %d queued, %d connections or "
             "requests in progress; memory beyond the loaded model stays within about %d MiB (README: Serving)",
             f"{options.image_pixels(model.input_size):,}", options.max_images_per_request, options.max_queued_images,
             options.limit_concurrency, options.memory_bound(model.input_size) // 2**20)
    # No access log and no client addresses anywhere, so X-Forwarded-For is not parsed (proxy_headers=False).
    # limit_concurrency: past it uvicorn answers 503 before reading a request, which bounds the bodies in memory.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", server_header=False,
                            proxy_headers=False, limit_concurrency=options.limit_concurrency)
    # TensorFlow and the model are ~400,000 Python objects that live as long as the server; left to the collector,
    # each full collection walks them all, stopping every thread (the event loop's too) for ~300 ms under load.
    gc.freeze()
    uvicorn.Server(config).run(sockets=[listener])


def _set_threads(options: ServeOptions) -> None:
    """TensorFlow's thread pools as the options ask; only before its runtime starts (the server's first op)."""
    import tensorflow as tf

    if options.intra_op_threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
    if options.inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; made with proto IPPROTO_TCP so asyncio sets TCP_NODELAY on each connection.

    (With proto 0, as socket.create_server makes it, every small response would wait ~40 ms
    for a delayed ACK: Nagle's algorithm.)
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             proto=socket.IPPROTO_TCP)[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(2048)
        except OSError:
            listener.close()
            raise
        return listener
    except OSError as error:
        raise FairvisionError(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                              "choose another --host or --port (--port 0 takes any free port)") from None
