"""Headless Chromium driven over the DevTools protocol, for tests that need a browser's view of a page.

A page's HTML text cannot say whether a browser decodes its inlined pictures, fetches anything or
lays out its charts; the DevTools protocol can, without changing the page. It travels over
``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-terminated JSON): no port, no extra
package. Debian's ``chromium`` is the browser; ``.ci/run`` installs it where it is missing.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM_MISSING = ("headless Chromium not found (`chromium` or `chromium-browser` on PATH): install Debian's "
                    "`chromium` (`apt-get install --no-install-recommends chromium`), as .ci/run does on CI")
TIMEOUT_S = 30.0  # for any one reply or event, and for the browser to exit


@functools.cache
def chromium() -> str | None:
    """The browser's path: Debian's `chromium`, else `chromium-browser` (Ubuntu's name); None where neither."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class PageView:
    """What the browser saw of one page: every URL it requested, its console errors, facts read off the
    rendered DOM and a screenshot (PNG) of the first screenful."""

    requests: list[str]
    errors: list[str]
    facts: Any
    screenshot: bytes


class Browser:
    """One headless Chromium (a fresh profile in ``profile``, names resolving nowhere) with one tab."""

    def __init__(self, profile: Path) -> None:
        binary = chromium()
        if binary is None:
            raise RuntimeError(CHROMIUM_MISSING)
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4; bash maps the pipe ends there. Copies
        # numbered 10 and up cannot be clobbered by that mapping (and dash, the usual sh, stops at fd 9).
        child = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_in, replies_out)]
        self._log = profile / "chromium.log"
        with self._log.open("wb") as log:  # stderr to a file: a pipe nobody drains would stall the browser
            self._process = subprocess.Popen(
                ["bash", "-c", f'exec "$0" "$@" 3<&{child[0]} 4>&{child[1]}', binary,
                 "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                 f"--user-data-dir={profile / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
                 "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900"],
                pass_fds=child, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        for fd in (commands_in, replies_out, *child):
            os.close(fd)
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        try:
            target = self._send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self._send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Network", "Log", "Runtime"):  # their events: requests, console errors, load
                self._send(f"{domain}.enable", session=self._session)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def view(self, url: str, facts: str) -> PageView:
        """Load ``url``, wait for its load event, then evaluate the JavaScript expression ``facts`` on it."""
        self._events.clear()
        self._send("Page.navigate", session=self._session, url=url)
        self._wait_for("Page.loadEventFired")
        result = self._send("Runtime.evaluate", session=self._session, expression=facts, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating the facts on {url}: {result['exceptionDetails']}")
        screenshot = self._send("Page.captureScreenshot", session=self._session, format="png")["data"]
        events = self._events
        return PageView(
            requests=[e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"],
            errors=[e["params"]["entry"]["text"] for e in events
                    if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
            + [e["params"]["exceptionDetails"]["text"] for e in events if e["method"] == "Runtime.exceptionThrown"],
            facts=result["result"]["value"],
            screenshot=base64.b64decode(screenshot),
        )

    def close(self) -> None:
        """Ask the browser to exit; kill it if it will not. Its profile folder is the caller's to remove."""
        try:
            self._send("Browser.close")
            self._process.wait(timeout=TIMEOUT_S)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait(timeout=TIMEOUT_S)
        finally:
            os.close(self._commands)
            os.close(self._replies)

    def _send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One command; its result. Events arriving meanwhile are kept for ``view``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        message |= {"sessionId": session} if session else {}
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def _wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self._events):
            self._events.append(self._receive())

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._replies, 1 << 16) if ready else b""
            if not chunk:
                log = self._log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chromium {'timed out' if not ready else 'exited'}; its log ends:\n{log}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
