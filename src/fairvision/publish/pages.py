"""The site's own pages, built from its history alone: the index of runs and a trend page per dataset × backbone.

jinja2 with autoescape, like the report; links are relative (the site works from a folder, a bucket
or any web server) and every path segment is percent-encoded, since S3's web endpoints read a
literal ``+`` (as in ``small_cnn+reweighing``) as a space. Nothing here reads a clock: the same
history gives the same pages.
"""

from __future__ import annotations

import functools
from typing import Any, Collection, Iterable, Sequence
from urllib.parse import quote

import jinja2
from markupsafe import Markup

import fairvision
from fairvision.publish.charts import accuracy_chart, gap_chart, verdicts_chart
from fairvision.publish.identity import SHORT
from fairvision.publish.site import BADGE, CARD_SUFFIX, HISTORY, INDEX, Run, latest_badges, run_key, trend_key
from fairvision.publish.summary import COUNTED, Gap
from fairvision.report import fmt
from fairvision.report.badge import BADGES


def index_page(runs: Sequence[Run]) -> str:
    """index.html: the trend pages (and latest badge) by dataset, then every run newest first, linking its report."""
    return _environment().get_template("index.html.j2").render(
        runs=runs, trends=_trends(runs), history=HISTORY, card_suffix=CARD_SUFFIX, root="",
        latest=latest_badges(runs), badge_file=BADGE)


def trend_pages(runs: Sequence[Run], datasets: Collection[str]) -> dict[str, str]:
    """``trends/<D>/<B>.html`` for every backbone of each of ``datasets`` in ``runs`` (newest first), by key."""
    pages = {}
    for dataset, backbones in _trends(runs).items():
        for backbone in backbones if dataset in datasets else ():
            series = [run for run in reversed(runs) if run.identity.dataset == dataset and backbone in run.backbones]
            pages[trend_key(dataset, backbone)] = _trend_page(dataset, backbone, series)
    return pages


def _trend_page(dataset: str, backbone: str, series: Sequence[Run]) -> str:
    """One backbone's figures over ``series`` (oldest first): charts, then a table of every run, newest first."""
    labels = [_label(run) for run in series]
    summaries = [run.backbones[backbone] for run in series]
    partitions = list(dict.fromkeys(name for summary in reversed(summaries) for name in summary.gaps))
    charts = {  # marked safe: the chart module escapes every text it writes
        "accuracy": Markup(accuracy_chart(labels, summaries)),
        "verdicts": Markup(verdicts_chart(labels, summaries)),
        "gaps": {name: Markup(gap_chart(labels, summaries, name)) for name in partitions},
    }
    root = "../../"  # trends/<D>/<B>.html -> the site's root
    return _environment().get_template("trend.html.j2").render(
        dataset=dataset, backbone=backbone, runs=list(reversed(series)), charts=charts, partitions=partitions,
        root=root, card_suffix=CARD_SUFFIX)


def _trends(runs: Iterable[Run]) -> dict[str, list[str]]:
    """Dataset -> its backbones, each once, datasets and backbones in the order of their newest run."""
    trends: dict[str, dict[str, None]] = {}
    for run in runs:
        trends.setdefault(run.identity.dataset, {}).update(dict.fromkeys(run.backbones))
    return {dataset: list(backbones) for dataset, backbones in trends.items()}


def _label(run: Run) -> str:
    """A run under a chart's axis: its day and short revision; ``*`` marks a dirty work tree."""
    return f"{run.date[:10]}\n{run.identity.git_revision[:7]}{'*' if run.identity.dirty else ''}"


def _href(key: str) -> str:
    """A site key as a link: each segment percent-encoded (``+`` included)."""
    return quote(key, safe="/")


@functools.cache
def _environment() -> jinja2.Environment:
    """Templates ship inside the package; StrictUndefined turns a template typo into an error, not a blank."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fairvision.publish", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(pct=fmt.pct, num=fmt.num, interval=fmt.interval, href=_href)
    environment.globals.update(
        version=fairvision.__version__,
        short=SHORT,
        counted=COUNTED,
        run_key=run_key,
        trend_key=trend_key,
        index=INDEX,
        status_colours={status: colour for status, (colour, _) in BADGES.items()},
        status_text={status: text for status, (_, text) in BADGES.items()},
        as_estimate=_as_estimate,
    )
    return environment


def _as_estimate(gap: Gap) -> dict[str, Any]:
    """A gap's estimate in the card's form, for the ``interval`` filter the report uses too."""
    return gap.estimate.as_json()
