"""A stand-in Kubernetes API server for the training jobs fairvision submits: real HTTP on 127.0.0.1, no cluster.

No API server can run on these machines, so this one answers exactly the requests
``fairvision.pipeline.jobs`` makes through the kubernetes client, as a real server does:

- POST .../namespaces/<ns>/<plural>: the body is checked against the CRD's JSON schema (from
  ../shared/k8s-schemas, when given): an unknown field is answered 400 BadRequest, "strict decoding
  error: unknown field ...", as a server does when asked with ``fieldValidation=Strict`` (the only
  mode modelled: a create without it is refused, so a client that stops asking fails its tests);
  any other violation 422 Invalid, the field named in the Status' causes. A taken name: 409
  AlreadyExists. A kind it does not serve: 404, as for a CRD that is not installed.
- GET .../<plural>/<name>: the object, whose status moves one step on each read through a play
  of the operator's transitions, as Training Operator v1 and Kubeflow Trainer v2 write them
  (``statuses``): TFJob Created → Running → Succeeded (or → Failed, its backoff limit reached);
  TrainJob: no condition → its child job active → Complete (or → Failed, JobSet's restarts spent).
  The "stall" play stops at Running.
- GET /api/v1/namespaces/<ns>/pods/<name>: a pod put in ``pods`` (a pipeline step reads its own, for its
  workspace volume); 404 for any other.

Not modelled: CEL rules (``x-kubernetes-validations``), defaulting, webhooks, watches, authentication.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml

# (group, version, plural) -> kind and its CRD's schema file
RESOURCES = {
    ("kubeflow.org", "v1", "tfjobs"): ("TFJob", "tfjob_v1.json"),
    ("trainer.kubeflow.org", "v1alpha1", "trainjobs"): ("TrainJob", "trainjob_v1alpha1.json"),
}
PLAYS = ("succeed", "fail", "stall")
_POD = re.compile(r"/api/v1/namespaces/(?P<namespace>[^/]+)/pods/(?P<name>[^/]+)")
_PATH = re.compile(r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)"
                   r"(?:/(?P<name>[^/]+))?")


def statuses(kind: str, namespace: str, name: str, play: str) -> list[dict[str, Any] | None]:
    """The statuses an operator gives a job in turn (None: none yet); the last one stays.

    Conditions, reasons and messages as Training Operator v1 (pkg/util/status.go: Running turns False when the
    job ends; tfjob_controller.go's messages; common/job.go's backoff-limit failure) and Kubeflow Trainer v2 (a
    TrainJob's Complete and Failed are its JobSet's conditions, JobSet's reasons and messages) write them.
    """
    if kind == "TFJob":
        created = _condition("Created", "TFJobCreated", f"TFJob {name} is created.")
        running = _condition("Running", "TFJobRunning", f"TFJob {namespace}/{name} is running.")
        ended = {"succeed": _condition("Succeeded", "TFJobSucceeded",
                                       f"TFJob {namespace}/{name} successfully completed."),
                 "fail": _condition("Failed", "TFJobFailed",
                                    f"Job {name} has failed because it has reached the specified backoff limit")}
        steps: list[dict[str, Any] | None] = [{"conditions": [created]}, {"conditions": [created, running]}]
        if play != "stall":
            steps.append({"conditions": [created, {**running, "status": "False"}, ended[play]]})
        return steps
    children = {"succeed": _children(succeeded=1), "fail": _children(failed=1)}
    ended = {"succeed": _condition("Complete", "AllJobsCompleted", "jobset completed successfully"),
             "fail": _condition("Failed", "ReachedMaxRestarts", "jobset failed due to reaching max number of "
                                                                "restarts")}
    steps = [None, {"jobsStatus": _children(active=1, ready=1)}]
    if play != "stall":
        steps.append({"conditions": [ended[play]], "jobsStatus": children[play]})
    return steps


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig at ``path`` whose one context is the API server at URL ``server``, with no credentials."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": server}}],
        "users": [{"name": "standin", "user": {}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
    }))
    return path


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}


def _children(**counts: int) -> list[dict[str, Any]]:
    """A TrainJob's `jobsStatus`: Trainer v2's one replicated job, `node` (its pods are the nodes)."""
    return [{"name": "node", **{key: counts.get(key, 0) for key in
                                ("active", "ready", "succeeded", "failed", "suspended")}}]


class StandIn:
    """The server, on a free port of 127.0.0.1 in a thread while used as a context manager.

    Args:
        schemas: the folder of CRD schemas to check bodies against; None: no check.
        kinds: the kinds it serves, as "plural.group" (default: all of ``RESOURCES``).

    ``play`` (one of ``PLAYS``) is what the next created job will do; ``objects`` holds what was created
    (key: namespace, plural, name) and ``queries`` each create's query parameters; ``pods`` the pods it serves
    (key: namespace, name).
    """

    def __init__(self, schemas: Path | None, kinds: tuple[str, ...] | None = None) -> None:
        self.resources = {key: value for key, value in RESOURCES.items()
                          if kinds is None or f"{key[2]}.{key[0]}" in kinds}
        self.validators = {} if schemas is None else {
            key: _validator(json.loads((schemas / file).read_text())) for key, (_, file) in self.resources.items()}
        self.play = "succeed"
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.queries: list[dict[str, list[str]]] = []
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._plays: dict[tuple[str, str, str], list[dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig at ``path`` whose one context is this server."""
        return write_kubeconfig(path, self.url)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def create(self, route: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        group, version, plural = route["group"], route["version"], route["plural"]
        kind = self.resources[(group, version, plural)][0]
        name = body.get("metadata", {}).get("name", "")
        self.queries.append(query)
        if query.get("fieldValidation") != ["Strict"]:
            return 400, _status(400, "BadRequest", "the stand-in models only fieldValidation=Strict (a real server "
                                                   "would drop unknown fields with a warning)")
        validator = self.validators.get((group, version, plural))
        errors = list(validator.iter_errors(body)) if validator else []
        unknown = [_field([*error.absolute_path, extra]) for error in errors
                   if error.validator == "additionalProperties"
                   for extra in sorted(set(error.instance) - set(error.schema.get("properties", {})))]
        if unknown:
            return 400, _status(400, "BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                                   "strict decoding error: "
                                                   + ", ".join(f'unknown field "{field}"' for field in unknown))
        if errors:
            causes = [{"reason": "FieldValueInvalid", "field": _field(error.absolute_path),
                       "message": f"Invalid value: {json.dumps(error.instance)}: {error.message}"} for error in errors]
            message = "; ".join(f"{cause['field']}: {cause['message']}" for cause in causes)
            return 422, _status(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {message}',
                                {"name": name, "group": group, "kind": kind, "causes": causes})
        key = (route["namespace"], plural, name)
        with self._lock:
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'{plural}.{group} "{name}" already exists',
                                    {"name": name, "group": group, "kind": plural})
            self.objects[key] = {field: value for field, value in body.items() if field != "status"}
            self._plays[key] = statuses(kind, route["namespace"], name, self.play)
        return 201, self.objects[key]

    def read(self, route: dict[str, str]) -> tuple[int, Any]:
        key = (route["namespace"], route["plural"], route["name"])
        with self._lock:
            if key not in self.objects:
                return 404, _status(404, "NotFound", f'{route["plural"]}.{route["group"]} "{route["name"]}" not found',
                                    {"name": route["name"], "group": route["group"], "kind": route["plural"]})
            steps = self._plays[key]
            status = steps.pop(0) if len(steps) > 1 else steps[0]
            current = dict(self.objects[key])
        if status is not None:
            current["status"] = status
        return 200, current


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.validators.validator_for(schema)(schema)


def _field(path: Iterable[str | int]) -> str:
    """A JSON path as Kubernetes writes a field: spec.containers[0].image."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Kubernetes `Status`, the body of every API error."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
              "reason": reason, "code": code}
    return {**status, "details": details} if details else status


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route, query = self._route(collection=True)
            if route is not None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self._answer(*standin.create(route, query, body))

        def do_GET(self) -> None:
            pod = _POD.fullmatch(urlsplit(self.path).path)
            if pod is not None:
                key = (pod["namespace"], pod["name"])
                found = standin.pods.get(key)
                self._answer(200, found) if found is not None else self._answer(404, _status(
                    404, "NotFound", f'pods "{key[1]}" not found', {"name": key[1], "kind": "pods"}))
                return
            route, _ = self._route(collection=False)
            if route is not None:
                self._answer(*standin.read(route))

        def _route(self, collection: bool) -> tuple[dict[str, str] | None, dict[str, list[str]]]:
            url = urlsplit(self.path)
            match = _PATH.fullmatch(url.path)
            served = match and (match["group"], match["version"], match["plural"]) in standin.resources
            if not served or (match["name"] is None) != collection:
                self._answer(404, _status(404, "NotFound", "the server could not find the requested resource"))
                return None, {}
            return match.groupdict(), parse_qs(url.query)

        def _answer(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            """Quiet: pytest shows the client's side."""

    return Handler
