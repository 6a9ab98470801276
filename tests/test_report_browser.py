"""The report pages as a reader's browser shows them: headless Chromium on the pages test_report_explanations renders.

test_report and test_report_explanations read the HTML text; these check what only a browser knows:
that a page fetches nothing and logs no error (it is one self-contained file), that every inlined mean
map decodes and is shown, that every section heading and chart is laid out, that a group name full of
markup stays text, and that the index is painted, its verdict badges in their colours. One browser
serves every page; without Chromium the module is skipped, naming how to install it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from browser import CHROMIUM_MISSING, Browser, PageView, chromium
from fairvision.report.render import BADGES
from test_report import BACKBONES, MALICIOUS, TITLES
from test_report_explanations import EXPLAINED, MAP_SIZE, rendered  # noqa: F401 (a fixture, used by name)

pytestmark = pytest.mark.skipif(chromium() is None, reason=CHROMIUM_MISSING)

# Read off each page once it has loaded: only what is rendered (headings with a box, text a reader can see).
FACTS = """({
  headings: [...document.querySelectorAll("h1, h2")].filter(h => h.getClientRects().length).map(h => h.innerText),
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                          height: i.naturalHeight, shown: i.getBoundingClientRect().width})),
  charts: [...document.querySelectorAll("svg")].map(s => s.getBoundingClientRect().height),
  scripts: document.scripts.length,
  text: document.body.innerText,
})"""


@pytest.fixture(scope="module")
def views(rendered: tuple[Path, dict[str, bytes]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageView]:
    """Every page of the report as one browser saw it, by file name."""
    with Browser(tmp_path_factory.mktemp("chromium")) as browser:
        return {page.name: browser.view(page.as_uri(), FACTS) for page in sorted(rendered[0].glob("*.html"))}


def test_pages_fetch_nothing_and_log_no_error(rendered: tuple[Path, dict[str, bytes]],
                                             views: dict[str, PageView]) -> None:
    assert set(views) == {"index.html"} | {f"{backbone}.html" for backbone in BACKBONES}
    for name, view in views.items():
        assert [url for url in view.requests if not url.startswith("data:")] == [(rendered[0] / name).as_uri()]
        assert view.errors == [], name


def test_every_mean_map_decodes_and_is_shown(views: dict[str, PageView]) -> None:
    images = views[f"{EXPLAINED}.html"].facts["images"]
    assert len(images) == 9  # as test_mean_maps_are_inlined_as_data_uris counts them
    for image in images:
        assert image["complete"] and (image["width"], image["height"]) == (MAP_SIZE, MAP_SIZE), image["alt"]
        assert image["shown"] > MAP_SIZE, image["alt"]  # drawn enlarged, as the stylesheet asks
    assert views["mobilenet_v2.html"].facts["images"] == []


def test_every_section_heading_and_chart_is_laid_out(views: dict[str, PageView]) -> None:
    for backbone in BACKBONES:
        facts = views[f"{backbone}.html"].facts
        assert facts["headings"] == [f"Model card: {backbone}", *TITLES]
        assert len(facts["charts"]) == 3 and all(height > 100 for height in facts["charts"]), facts["charts"]
    assert views["index.html"].facts["headings"] == [
        "Fairness audit: synthetic, gender classifiers", "Backbones side by side", "Per-label performance",
        "Accuracy per group", "Dataset"]


def test_group_names_with_markup_are_shown_as_text(views: dict[str, PageView]) -> None:
    for name, view in views.items():
        assert MALICIOUS in view.facts["text"] and view.facts["scripts"] == 0, name


def test_index_is_painted_with_its_verdict_badges(views: dict[str, PageView]) -> None:
    screenshot = Image.open(io.BytesIO(views["index.html"].screenshot)).convert("RGB")
    colours = {colour: count for count, colour in screenshot.getcolors(screenshot.width * screenshot.height)}
    assert len(colours) > 50, "a blank or flat page"
    for status in ("fail", "inconclusive"):  # small_cnn's and mobilenet_v2's overall verdicts, near the top
        badge = Image.new("RGB", (1, 1), BADGES[status][0]).getpixel((0, 0))
        assert colours.get(badge, 0) > 100, f"no {status} badge painted"
