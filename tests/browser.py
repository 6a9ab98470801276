"""Headless Chromium driven by Playwright, for tests that need a browser's view of a page.

A page's HTML text cannot say whether a browser decodes its inlined pictures, fetches anything, obeys
its Content-Security-Policy or lays it out within the screen; a browser can, without changing the
page. Playwright drives Debian's ``chromium`` (Playwright's own browser builds are a download, which
this project never makes); ``.ci/run`` installs it where it is missing. Names resolve nowhere, so a
page that tried to fetch would fail loudly rather than reach a network.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.sync_api import ConsoleMessage, Dialog, Request, sync_playwright

CHROMIUM_MISSING = ("headless Chromium not found (`chromium` or `chromium-browser` on PATH): install Debian's "
                    "`chromium` (`apt-get install --no-install-recommends chromium`), as .ci/run does on CI")
TIMEOUT_MS = 30_000  # for a page to load, and for any one step on it
HEIGHT = 900  # the viewport's height in CSS pixels, at every width


@functools.cache
def chromium() -> str | None:
    """The browser's path: Debian's `chromium`, else `chromium-browser` (Ubuntu's name); None where neither."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class PageView:
    """What the browser saw of one page at one width: every URL it requested (data: URIs are not requests),
    its console errors (a Content-Security-Policy violation among them), uncaught exceptions and dialogs,
    facts read off the rendered DOM, and a screenshot (PNG) of one screenful."""

    requests: list[str]
    errors: list[str]
    facts: Any
    screenshot: bytes


class Browser:
    """One headless Chromium with one tab; each ``view`` sets the tab's width and media, then loads a page."""

    def __init__(self) -> None:
        binary = chromium()
        if binary is None:
            raise RuntimeError(CHROMIUM_MISSING)
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=binary, timeout=TIMEOUT_MS,
                args=["--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run", "--no-default-browser-check"])
            self._page = self._browser.new_page()
        except BaseException:
            self._playwright.stop()
            raise
        self._page.set_default_timeout(TIMEOUT_MS)
        self._requests: list[str] = []
        self._errors: list[str] = []
        self._page.on("request", lambda request: self._requests.append(request.url))
        self._page.on("requestfailed", lambda request: self._errors.append(f"failed: {_failure(request)}"))
        self._page.on("console", self._console)
        self._page.on("pageerror", lambda error: self._errors.append(f"uncaught: {error}"))
        self._page.on("dialog", self._dialog)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def view(self, page_path: Path, facts: str, *, width: int, media: str = "screen",
             at: str | None = None) -> PageView:
        """Load the file ``page_path`` in a ``width`` × HEIGHT viewport and ``media`` ("screen" or "print"), wait for
        its load event, then evaluate the JavaScript expression ``facts`` on it; the screenshot is of the first
        screenful, or of the one that shows the first element matching the CSS selector ``at``."""
        self._requests.clear()
        self._errors.clear()
        self._page.set_viewport_size({"width": width, "height": HEIGHT})
        self._page.emulate_media(media=media)
        self._page.goto(page_path.as_uri(), wait_until="load")
        read = self._page.evaluate(facts)
        if at is not None:
            self._page.locator(at).first.scroll_into_view_if_needed()
        return PageView(requests=list(self._requests), errors=list(self._errors), facts=read,
                        screenshot=self._page.screenshot())

    def close(self) -> None:
        """Close the browser and stop Playwright's driver."""
        try:
            self._browser.close()
        finally:
            self._playwright.stop()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        """A script that ran would show itself so (alert): recorded as an error, then dismissed."""
        self._errors.append(f"{dialog.type} dialog: {dialog.message}")
        dialog.dismiss()


def _failure(request: Request) -> str:
    return f"{request.url} ({request.failure})"
