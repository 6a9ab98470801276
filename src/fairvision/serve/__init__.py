"""`fairvision serve`: the exported model over TensorFlow Serving's REST API and KServe's V2 protocol.

A client works the same against this server and against TF Serving / KServe on Kubernetes.
Requests that arrive together are batched into one model call; every bad input is a 4xx
naming what was wrong; Prometheus metrics at /metrics.
"""

from fairvision.serve.app import create_app
from fairvision.serve.model import ServedModel, load_model
from fairvision.serve.options import ServeOptions
from fairvision.serve.server import serve

__all__ = ["ServeOptions", "ServedModel", "create_app", "load_model", "serve"]
