"""Run a Kubeflow-like cluster of training workers inside a private network namespace.

TensorFlow's gRPC server listens on every interface of the machine, so the workers of
``tests/test_distributed.py`` run inside a network namespace of their own (``unshare -n``):
only a loopback interface there, brought up by ``launch``, and nothing reachable from outside.
This file is the script run in that namespace::

    unshare -n python multiworker.py probe
    unshare -n python multiworker.py launch RUNS TIMEOUT WORKERS [tfjob|trainjob] -- fairvision-arguments...
    (launch then starts)  python multiworker.py worker INDEX RUNS -- fairvision-arguments...
    (or, for trainjob)    unshare --net --mount python multiworker.py pod INDEX RUNS -- fairvision-arguments...

In ``launch``'s arguments, ``{worker}`` stands for the worker's index.

Each worker is the real ``fairvision`` CLI (``cli.main``) given what its Kubeflow job would give
it. ``tfjob`` (the default): the TF_CONFIG a TFJob sets, every worker on 127.0.0.1 with a port
of its own. ``trainjob``: no TF_CONFIG, only the JobSet variables a TrainJob's pod gets; like
pods, each worker then has a network namespace and an address of its own (10.23.0.<i+1>, all
on one bridge), listens on the same port as the others, and finds them by the host names
JobSet's headless service gives pods (``<jobset>-<replicatedJob>-0-<index>.<jobset>``),
which a private mount of ``/etc/hosts`` resolves as the cluster's DNS would. The only addition
is an observer around ``models.train.fit`` that keeps the weights before and after training and
what ``fit`` returned, because a non-chief worker exports nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
JOBSET, REPLICATED_JOB = "fairvision-test", "node"  # a TrainJob's JobSet and Trainer v2's trainer job
BRIDGE, SUBNET = "fv-pods", "10.23.0"  # the pods' network, in launch's namespace


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2: set IFF_UP on ``lo`` (needs CAP_NET_ADMIN in the namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def probe() -> None:
    """Bring loopback up and make one TCP connection over it: what the workers will need."""
    loopback_up()
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5):
            server.accept()[0].close()


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports of 127.0.0.1 (in a fresh namespace nothing else can take them)."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def launch(runs: Path, timeout: float, workers: int, arguments: list[str], job: str = "tfjob") -> int:
    """Start ``workers`` workers of one cluster and wait for them all; a failed one stops the rest.

    Each worker's stdout and stderr go to ``RUNS/worker<i>.log``, its exit status to
    ``RUNS/worker<i>.status`` (-9 when it was stopped here), its temporary files under
    ``RUNS/tmp<i>``. Returns 0 when every worker exited 0.
    """
    loopback_up()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}  # for tfjob
    processes = []
    for index in range(workers):
        tmp = runs / f"tmp{index}"
        tmp.mkdir(parents=True, exist_ok=True)
        if job == "trainjob":
            command = ["unshare", "--net", "--mount", sys.executable, __file__, "pod"]
            given = {"JOBSET_NAME": JOBSET, "REPLICATED_JOB_NAME": REPLICATED_JOB,
                     "JOB_COMPLETION_INDEX": str(index), "FAIRVISION_NUM_NODES": str(workers)}
        else:
            command = [sys.executable, __file__, "worker"]
            given = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        with (runs / f"worker{index}.log").open("wb") as log:
            processes.append(subprocess.Popen(
                [*command, str(index), str(runs), "--", *(a.replace("{worker}", str(index)) for a in arguments)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=os.environ | given | {"TMPDIR": str(tmp)},
            ))
    if job == "trainjob":
        try:
            connect_pods(runs, processes)
        except BaseException:
            for p in processes:  # they would wait for their network for ever
                p.kill()
            raise
    deadline, stopped = time.monotonic() + timeout, False
    while any(p.poll() is None for p in processes):
        failed = [i for i, p in enumerate(processes) if p.returncode not in (None, 0)]
        if not stopped and (failed or time.monotonic() > deadline):  # the rest would wait for ever
            reason = f"worker {failed[0]} failed" if failed else f"still running after {timeout:g} s"
            print(f"launch: {reason}; stopping the remaining workers", flush=True)
            for p in processes:
                if p.poll() is None:
                    p.kill()
            stopped = True
        time.sleep(0.2)
    for index, p in enumerate(processes):
        (runs / f"worker{index}.status").write_text(str(p.wait()), encoding="utf-8")
    return 0 if all(p.returncode == 0 for p in processes) else 1


def pod_host(index: int) -> str:
    """Pod ``index``'s name in the JobSet's headless service: JobSet's naming, written out here independently."""
    return f"{JOBSET}-{REPLICATED_JOB}-0-{index}.{JOBSET}"


def connect_pods(runs: Path, pods: list[subprocess.Popen]) -> None:
    """Give each pod (in its own network namespace) an address on one bridge, and ``RUNS/hosts`` naming them all.

    Each pod writes ``RUNS/pod<i>.up`` once its namespaces exist and waits for ``RUNS/pod<i>.net``.
    """
    lines = ["127.0.0.1 localhost"] + [f"{SUBNET}.{i + 1} {pod_host(i)}" for i in range(len(pods))]
    (runs / "hosts").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("link", "set", BRIDGE, "up")
    for index, pod in enumerate(pods):
        while not (runs / f"pod{index}.up").exists():
            if pod.poll() is not None:
                return  # it failed before its namespaces existed: launch's loop reports it
            time.sleep(0.05)
        _ip("link", "add", f"fv-veth{index}", "type", "veth", "peer", "name", "eth0", "netns", str(pod.pid))
        _ip("link", "set", f"fv-veth{index}", "master", BRIDGE, "up")
        inside = ["nsenter", f"--net=/proc/{pod.pid}/ns/net", "ip"]
        subprocess.run([*inside, "addr", "add", f"{SUBNET}.{index + 1}/24", "dev", "eth0"], check=True)
        subprocess.run([*inside, "link", "set", "eth0", "up"], check=True)
        (runs / f"pod{index}.net").touch()


def _ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True)


def pod(name: str, runs: Path, arguments: list[str]) -> int:
    """A worker as a Trainer v2 pod: wait for its network, resolve the pods' host names via ``RUNS/hosts``."""
    loopback_up()
    (runs / f"pod{name}.up").touch()
    while not (runs / f"pod{name}.net").exists():
        time.sleep(0.05)
    subprocess.run(["mount", "--bind", str(runs / "hosts"), "/etc/hosts"], check=True)  # this mount namespace only
    return worker(name, runs, arguments)


def worker(name: str, runs: Path, arguments: list[str]) -> int:
    """``fairvision`` with ``arguments``, keeping ``fit``'s weights and result in ``RUNS/worker<name>.*``."""
    import numpy as np

    import fairvision.models.train as training
    from fairvision.cli import main

    real_fit = training.fit

    def observed_fit(model, *args, **kwargs):
        np.savez(runs / f"worker{name}.initial.npz", **_weights(model))
        fitted = real_fit(model, *args, **kwargs)
        np.savez(runs / f"worker{name}.final.npz", **_weights(model))
        record = {"images_seen": fitted.images_seen, "history": fitted.history}
        (runs / f"worker{name}.fitted.json").write_text(json.dumps(record), encoding="utf-8")
        return fitted

    training.fit = observed_fit  # train() looks `fit` up when it calls it
    return main(arguments)


def _weights(model) -> dict:
    """Every variable of ``model`` by its place and path, e.g. ``03 batch_normalization:moving_mean``."""
    return {f"{n:02d} {v.path.replace('/', ':')}": v.numpy() for n, v in enumerate(model.variables)}


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    split = rest.index("--") if "--" in rest else len(rest)
    options, arguments = rest[:split], rest[split + 1:]
    if command == "probe":
        probe()
    elif command == "launch":
        sys.exit(launch(Path(options[0]), float(options[1]), int(options[2]), arguments, *options[3:]))
    elif command == "worker":
        sys.exit(worker(options[0], Path(options[1]), arguments))
    elif command == "pod":
        sys.exit(pod(options[0], Path(options[1]), arguments))
    else:
        sys.exit(f"multiworker.py: unknown command {command!r} (probe, launch, worker or pod)")
