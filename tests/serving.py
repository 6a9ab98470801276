"""`fairvision serve` as a real process on 127.0.0.1, for the serving tests (the server's own RSS is measurable)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests

STARTUP_S = 120  # importing TensorFlow and loading the model, on a busy 2-core machine
LISTENING = re.compile(r"on (http://127\.0\.0\.1:\d+)")
MODEL_NAME = "small_cnn"  # the README's model name, so its requests run unchanged but for the port


class Server:
    """A running server: its base ``url`` and ``pid``; ``metric`` reads one sample of /metrics."""

    def __init__(self, url: str, process: subprocess.Popen, log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def metric(self, name: str, **labels: str) -> float:
        """The value of sample ``name`` with ``labels`` (0 when absent, as Prometheus reads a missing counter)."""
        wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == (f"{name}{{{wanted}}}" if labels else name):
                return float(value)
        return 0.0


@contextlib.contextmanager
def running_server(model_dir: Path, *flags: str, cwd: Path) -> Iterator[Server]:
    """`fairvision serve model_dir --port 0 *flags` started in ``cwd``; stopped with SIGINT (Ctrl-C) afterwards."""
    log = cwd / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "fairvision.cli", "serve", str(model_dir), "--port", "0",
                                    *flags], cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield Server(_wait_for_address(process, log), process, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_address(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"fairvision serve exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"fairvision serve did not start within {STARTUP_S} s:\n{log.read_text()}")
