"""`fairvision serve`: the exported model over TensorFlow Serving's REST API and KServe's V2 protocol.

A client works the same against this server and against TF Serving / KServe on Kubernetes.
Requests that arrive together are batched into one model call; every bad input is a 4xx
naming what was wrong; Prometheus metrics at /metrics.

Import from the modules (``serve.server.serve``, ``serve.options.ServeOptions``): the package
itself imports nothing, so checking a command's arguments never loads TensorFlow.
"""
