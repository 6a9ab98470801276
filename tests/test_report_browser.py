"""The report pages as a reader's browser shows them: headless Chromium (tests/browser.py) at 1280 and 390 px.

test_report and test_report_explanations read the HTML text; these check what only a browser knows:
that a page fetches nothing and logs no error (it is one self-contained file, and its
Content-Security-Policy refuses nothing it needs), that nothing is wider than a desktop or a phone
screen (wide tables scroll in their own box, charts fit), that the verdict, its tables and every
chart are laid out, that every inlined mean map decodes, that group names and labels full of markup
stay text (no element injected, no script run), that the index is painted with its verdict badges,
and that an A4 print fits the page with badges in black on white. One browser serves every page.

Screenshots of each page at each width (and printed) are kept as artifacts: under
``$FAIRVISION_ARTIFACTS/report-browser/`` when that is set, else in pytest's temporary folder
(``report-browser0/``, of which pytest keeps the last three runs), named ``<folder>.<page>.<width>.png``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from browser import CHROMIUM_MISSING, Browser, PageView, chromium
from fairvision.report.badge import BADGES
from test_report import BACKBONES, MALICIOUS, MARKUP_GROUP, SCRIPT_LABEL, TITLES, demo_shaped, render_markup_pages  # noqa: F401
from test_report_cohorts import DISCOVERED, planted  # noqa: F401 (a fixture, used by name)
from test_report_explanations import EXPLAINED, MAP_SIZE, rendered  # noqa: F401 (a fixture, used by name)

pytestmark = pytest.mark.skipif(chromium() is None, reason=CHROMIUM_MISSING)

WIDTHS = (1280, 390)  # a desktop and a phone, in CSS pixels
A4_WIDTH = 703  # CSS pixels inside an A4 page's 12 mm margins (186 mm at 96 px per inch), as base.html.j2's @page
# Read off each page once it has loaded: only what is rendered (boxes with a size, text a reader can see).
FACTS = """({
  overflow: document.scrollingElement.scrollWidth - innerWidth,
  headings: [...document.querySelectorAll("h1, h2")].filter(h => h.getClientRects().length).map(h => h.innerText),
  verdict: [...document.querySelectorAll("section.banner[class*='verdict-'] > strong .badge")].map(b => b.innerText),
  headline: [...document.querySelectorAll("tr[data-group]")].filter(r => r.getClientRects().length).length,
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                          height: i.naturalHeight, shown: i.getBoundingClientRect().width})),
  charts: [...document.querySelectorAll("figure svg")].map(s => {
    const box = s.getBoundingClientRect(); return {left: box.left, right: box.right, height: box.height}; }),
  scripts: document.scripts.length,
  markup: document.querySelectorAll("b, i").length,
  text: document.body.innerText,
  badge: (b => b && {colour: getComputedStyle(b).color, background: getComputedStyle(b).backgroundColor,
                     border: getComputedStyle(b).borderTopStyle})(document.querySelector(".badge.fail")),
})"""


def _artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $FAIRVISION_ARTIFACTS/report-browser, else a folder pytest keeps."""
    root = os.environ.get("FAIRVISION_ARTIFACTS")
    if root is None:
        return tmp_path_factory.mktemp("report-browser")
    folder = Path(root) / "report-browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def markup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test_report's pages of a custom attribute whose group and a label are markup, audited for real."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return render_markup_pages(tmp_path_factory.mktemp("markup"), monkeypatch)


@pytest.fixture(scope="module")
def published(rendered: tuple[Path, dict[str, bytes]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The explained report published twice, from two commits, to a site folder (`fairvision publish`): its index
    and a trend page with two points per chart."""
    from test_publish import DATASET, NOW, Repo

    cards = {page.name.removesuffix(".card.json"): json.loads(page.read_text(encoding="utf-8"))
             for page in rendered[0].glob("*.card.json")}
    repo = Repo(tmp_path_factory.mktemp("published") / "project", cards)
    site = repo.path.parent / "site"
    shutil.copytree(rendered[0], repo.reports, dirs_exist_ok=True)
    repo.publish(str(site), now=NOW)
    repo.commit("second", "2026-11-20T10:00:00Z")
    repo.publish(str(site), now=NOW)
    assert len(json.loads((site / "history.json").read_text())["runs"]) == 2
    return site


@pytest.fixture(scope="module")
def pages(rendered: tuple[Path, dict[str, bytes]], markup: Path, published: Path,
          planted: tuple[Path, dict[str, Any]]) -> dict[str, Path]:
    """Every page under test by a short name, "<folder>/<file>": the comparison page (index.html) and the model
    cards of the explained report, the markup report's, and the published site's index and trend pages; the
    checks below apply to every page named."""
    folders = {"explained": rendered[0], "markup": markup}
    named = {f"{name}/{page.name}": page for name, folder in folders.items() for page in sorted(folder.glob("*.html"))}
    trends = sorted((published / "trends").rglob("*.html"))
    assert trends, "the published site has no trend page"
    return named | {"cohorts/card.html": planted[0] / f"{DISCOVERED}.html", "site/index.html": published / "index.html",
                    **{f"site/trends.{page.parent.name}.{page.name}": page for page in trends}}


@pytest.fixture(scope="module")
def views(pages: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int | str], PageView]:
    """Every page at every width, and printed on A4, as one browser saw it, by (name, width or "print"); each
    screenshot saved (a model card's at its first partition: chart and headline table, the rest at the top)."""
    artifacts = _artifacts(tmp_path_factory)
    seen: dict[tuple[str, int | str], PageView] = {}
    with Browser() as browser:
        for name, path in pages.items():
            at = None if path.name == "index.html" or name.startswith("site/") else "h3[id^='partition-']"
            for width in WIDTHS:
                seen[name, width] = browser.view(path, FACTS, width=width, at=at)
            seen[name, "print"] = browser.view(path, FACTS, width=A4_WIDTH, media="print", at=at)
    for (name, width), view in seen.items():
        (artifacts / f"{name.replace('/', '.')}.{width}.png").write_bytes(view.screenshot)
    return seen


def test_pages_fetch_nothing_and_log_no_error(pages: dict[str, Path],
                                             views: dict[tuple[str, int | str], PageView]) -> None:
    assert set(pages) >= {"explained/index.html", "markup/index.html"} | {
        f"{folder}/{backbone}.html" for folder in ("explained", "markup") for backbone in BACKBONES}
    site = pages["site/index.html"].parent.as_uri() + "/"
    for (name, width), view in views.items():
        if name.startswith("site/"):  # a published site links its own files (badges, cards): nothing beyond them
            assert view.requests[0] == pages[name].as_uri() and all(
                request.startswith(site) for request in view.requests), (name, width, view.requests)
        else:  # a report page is self-contained
            assert view.requests == [pages[name].as_uri()], (name, width)
        assert view.errors == [], (name, width)  # a refusal by the page's Content-Security-Policy included


def test_nothing_is_wider_than_the_screen(views: dict[tuple[str, int | str], PageView]) -> None:
    """No sideways scrolling of the page itself, on a desktop, a phone or A4; charts fit within the screen."""
    for (name, width), view in views.items():
        assert view.facts["overflow"] <= 0, (name, width)
        screen = A4_WIDTH if width == "print" else width
        for chart in view.facts["charts"]:
            assert 0 <= chart["left"] and chart["right"] <= screen, (name, width, chart)


def test_the_verdict_its_tables_and_every_chart_are_laid_out(views: dict[tuple[str, int | str], PageView]) -> None:
    for width in (*WIDTHS, "print"):
        for backbone, verdict in zip(BACKBONES, ("FAIL", "inconclusive")):  # as test_report's inputs make them
            facts = views[f"explained/{backbone}.html", width].facts
            assert facts["headings"] == [f"Model card: {backbone}", *TITLES]
            assert facts["verdict"] == [verdict]
            assert facts["headline"] == 5  # race's three groups and age's two, in the headline tables
            assert len(facts["charts"]) == 3 and all(chart["height"] > 100 for chart in facts["charts"])
        assert views["explained/index.html", width].facts["headings"] == [
            "Fairness audit: synthetic, gender classifiers", "Backbones side by side", "Accuracy against fairness",
            "Per-label performance", "Accuracy per group", "Dataset"]
        assert views["explained/index.html", width].facts["headline"] == 5


def test_every_mean_map_decodes_and_is_shown(views: dict[tuple[str, int | str], PageView]) -> None:
    for width in WIDTHS:
        images = views[f"explained/{EXPLAINED}.html", width].facts["images"]
        assert len(images) == 9  # as test_mean_maps_are_inlined_as_data_uris counts them
        for image in images:
            assert image["complete"] and (image["width"], image["height"]) == (MAP_SIZE, MAP_SIZE), image["alt"]
            assert image["shown"] > MAP_SIZE, image["alt"]  # drawn enlarged, as the stylesheet asks
        assert views["explained/mobilenet_v2.html", width].facts["images"] == []


def test_group_names_and_labels_with_markup_are_shown_as_text(views: dict[tuple[str, int | str], PageView]) -> None:
    """The markup-in-labels test of test_report, in the browser: the text is shown as written, no element was
    made of it (no script, no <b> or <i>) and nothing ran (no dialog, no error)."""
    for (name, width), view in views.items():
        facts = view.facts
        assert facts["scripts"] == 0 and facts["markup"] == 0 and view.errors == [], (name, width)
        texts = (SCRIPT_LABEL, MARKUP_GROUP) if name.startswith("markup/") else \
            (MALICIOUS,) if name.startswith("explained/") else ()  # the site's pages show no group
        for text in texts:
            assert text in facts["text"], (name, width, text)


def test_index_is_painted_with_its_verdict_badges(views: dict[tuple[str, int | str], PageView]) -> None:
    for width in WIDTHS:
        screenshot = Image.open(io.BytesIO(views["explained/index.html", width].screenshot)).convert("RGB")
        colours = {colour: count for count, colour in screenshot.getcolors(screenshot.width * screenshot.height)}
        assert len(colours) > 50, "a blank or flat page"
        for status in ("fail", "inconclusive"):  # small_cnn's and mobilenet_v2's overall verdicts, near the top
            badge = Image.new("RGB", (1, 1), BADGES[status][0]).getpixel((0, 0))
            assert colours.get(badge, 0) > 100, f"no {status} badge painted at {width} px"


def test_the_published_index_and_trend_pages_show_both_runs(views: dict[tuple[str, int | str], PageView]) -> None:
    """The site `fairvision publish` made from two commits: the index lists two runs, each trend page draws
    its charts within the screen."""
    trend_pages = [name for name, _ in views if name.startswith("site/trends.")]
    assert trend_pages
    for width in (*WIDTHS, "print"):
        assert views["site/index.html", width].facts["text"].count("synthetic") >= 2
        for name in trend_pages:
            assert views[name, width].facts["charts"], (name, width)


def test_a_cards_cohorts_section_is_laid_out(views: dict[tuple[str, int | str], PageView],
                                             planted: tuple[Path, dict[str, Any]]) -> None:
    """The Cohorts section with discoveries (the planted cohort selected), at every width and in print: each own
    finding is shown (inherited ones are folded under their parent)."""
    selected = [row["cohort"] for row in planted[1]["cohorts"] if row["selected"] and row["lineage"] != "inherited"]
    assert selected
    for width in (*WIDTHS, "print"):
        text = views["cohorts/card.html", width].facts["text"]
        assert "Cohorts" in text and all(cohort in text for cohort in selected), width


OPEN_ALL = """(() => {
  document.querySelectorAll("details").forEach(block => { block.open = true; });
  return {overflow: document.scrollingElement.scrollWidth - innerWidth,
          opened: document.querySelectorAll("details[open] table").length};
})()"""


def test_printed_with_every_block_opened_no_table_is_cut(demo_shaped: Path) -> None:
    """A reader may open the "All metrics" blocks (every rate and metric, 17 columns) before printing: on A4 they
    still fit the page, for a report shaped like the demo's (7 races × 9 ages)."""
    with Browser() as browser:
        for page in sorted(set(demo_shaped.glob("*.html")) - {demo_shaped / "index.html"}):
            facts = browser.view(page, OPEN_ALL, width=A4_WIDTH, media="print").facts
            assert facts["opened"] > 0 and facts["overflow"] <= 0, (page.name, facts)


def test_printed_badges_are_words_in_black_on_white(views: dict[tuple[str, int | str], PageView]) -> None:
    """A printer drops backgrounds and may have no colour: printed, a badge is its word in black in a box."""
    for backbone in BACKBONES:
        screen = views[f"explained/{backbone}.html", WIDTHS[0]].facts["badge"]
        printed = views[f"explained/{backbone}.html", "print"].facts["badge"]
        assert screen["colour"] == "rgb(255, 255, 255)" and screen["border"] == "none"
        assert printed == {"colour": "rgb(0, 0, 0)", "background": "rgb(255, 255, 255)", "border": "solid"}
