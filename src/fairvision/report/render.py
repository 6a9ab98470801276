"""Render the report folder: one model-card page and card.json per backbone, plus an index comparing them.

Every input is read and every page rendered in memory first, then the folder is written
through ``atomic_path``: a bad input leaves no report (or the previous one) behind,
never a half-updated mix of old and new pages. Pictures travel inside the pages (inline
SVG charts, mean maps as base64 data URIs), so a page is one file that fetches nothing.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from markupsafe import Markup

import fairvision
from fairvision.audit.gate import CheckSettings
from fairvision.audit.measures import COMPARISONS, RATES
from fairvision.audit.verdicts import Band, verdict
from fairvision.audit.vocabulary import AGAINST, STATUSES
from fairvision.digest import file_sha256, folder_sha256
from fairvision.errors import FairvisionError
from fairvision.files import atomic_path, write_json, write_text
from fairvision.layout import seed_name
from fairvision.report import fmt
from fairvision.report.badge import BADGES, backbone_badge, overall_badge
from fairvision.report.card import NOT_MEASURED, NOT_MEASURED_MEANING, STATUS_MEANING, model_card
from fairvision.report.comparison import front, mitigations
from fairvision.report.findings import Finding, findings
from fairvision.report.inputs import BackboneInputs, read_backbone, read_datasheet
from fairvision.report.overview import accuracy_grid, dataset_counts
from fairvision.report.plots import accuracy_chart, data_uri, front_chart, training_chart

INDEX = "index"
# Numbers in a verdict's sentence: the cell beside it shows them, rounded its own way, so they are not compared.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def render_reports(
    backbones: Sequence[str],
    audits_dir: str | os.PathLike[str],
    models_dir: str | os.PathLike[str],
    training_dir: str | os.PathLike[str],
    timings_dir: str | os.PathLike[str],
    datasheet_path: str | os.PathLike[str],
    manifest_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: CheckSettings,
) -> None:
    """Write out_dir/index.html and badge.svg, and out_dir/<B>.html, <B>.card.json and <B>.badge.svg for each
    backbone B. Each card names the prepared dataset by ``manifest_path``'s SHA-256 and the model it describes
    (the first seed's, the one served) by its folder's. ``settings``: how the index compares a mitigated backbone
    with its plain one (the gate's paired bootstrap, ``comparison.mitigations``)."""
    _check_backbones(backbones)
    datasheet = read_datasheet(datasheet_path)
    inputs = {backbone: read_backbone(backbone, audits_dir, models_dir, training_dir, timings_dir)
              for backbone in backbones}
    manifest_sha256 = file_sha256(manifest_path)
    cards = {backbone: model_card(backbone, inputs[backbone], datasheet, manifest_sha256=manifest_sha256,
                                  model_sha256=folder_sha256(Path(models_dir) / backbone / seed_name(
                                      inputs[backbone].fairness.seeds.values[0])))
             for backbone in backbones}
    environment = _environment()
    pages = {
        f"{backbone}.html": environment.get_template("backbone.html.j2").render(
            card=cards[backbone], charts=_charts(backbone, cards[backbone], inputs[backbone]),
            maps=_data_uris(inputs[backbone].mean_maps), findings=_findings(cards[backbone]),
            cohort_pictures=_data_uris(inputs[backbone].cohort_pictures),
        )
        for backbone in backbones
    }
    pages[f"{INDEX}.html"] = environment.get_template("index.html.j2").render(
        cards=cards, grid=accuracy_grid(cards), datasheet=datasheet, dataset_counts=dataset_counts(datasheet),
        small_groups=_distinct([card["evaluation_data"]["small_groups"] for card in cards.values()]),
        findings={backbone: _findings(card) for backbone, card in cards.items()},
        fronts={metric: (points, Markup(front_chart(points, metric, f"front:{metric}")))
                for metric, points in front(cards).items()},
        mitigations=mitigations(audits_dir, cards, settings),
    )
    with atomic_path(out_dir, directory=True) as tmp:
        for name, html in pages.items():
            write_text(tmp / name, html)
        for backbone, card in cards.items():
            write_json(tmp / f"{backbone}.card.json", card)
            write_text(tmp / f"{backbone}.badge.svg", backbone_badge(backbone, card))
        write_text(tmp / "badge.svg", overall_badge(cards))


def _check_backbones(backbones: Sequence[str]) -> None:
    """Backbone names become file names: refuse any that would escape out_dir or overwrite another page."""
    if not backbones:
        raise FairvisionError("render_reports: no backbone to report on")
    if len(set(backbones)) != len(backbones):
        raise FairvisionError(f"render_reports: backbones listed twice in {', '.join(backbones)}")
    for backbone in backbones:
        if not backbone or backbone != Path(backbone).name or backbone.startswith(".") or backbone == INDEX:
            raise FairvisionError(f"render_reports: backbone name {backbone!r} cannot be used as a file name")


def _charts(backbone: str, card: Mapping[str, Any], inputs: BackboneInputs) -> dict[str, Any]:
    """Inline SVG charts, marked safe: matplotlib already escapes the text it writes into them."""
    analyses = card["quantitative_analyses"]
    headline = analyses["headline_outcome"]
    return {
        "training": Markup(training_chart(inputs.history, f"{backbone}:training")),
        "partitions": {
            name: Markup(accuracy_chart(analysis["outcomes"][headline]["groups"], analyses["overall_accuracy"],
                                        f"{backbone}:{name}"))
            for name, analysis in analyses["partitions"].items()
        },
    }


def _findings(card: Mapping[str, Any]) -> list[Finding]:
    return findings(card["verdict"], card["quantitative_analyses"]["partitions"])


def _data_uris(pictures: Mapping[str, bytes]) -> dict[str, str]:
    """Each picture as a data URI, by its name in explanations.json: the page embeds it rather than linking it."""
    return {name: data_uri(png) for name, png in pictures.items()}


def _distinct(tables: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each table once, first seen first: backbones audited alike share one small-groups table on the index."""
    return [table for i, table in enumerate(tables) if table not in tables[:i]]


def _restated(result: Mapping[str, Any], metric: str, definitions: Sequence[Mapping[str, Any]],
              table: Mapping[str, Any], against: str) -> bool:
    """Whether a judged comparison's explanation is the audit's stock sentence for its verdict.

    Its cell (value, interval, badge), column (metric), table (level) and the Metrics section
    (tolerance) say the same, so the page leaves that tooltip out: one per cell weighed a fifth
    of a page. An undefined value, or a verdict the audit explained in its own words (not
    judged, not certified), keeps its tooltip.
    """
    value, (low, high) = result["value"], result["ci"]
    if value is None or low is None or high is None or result["undefined"]:
        return False
    tolerance = next(definition["tolerance"] for definition in definitions if definition["name"] == metric)
    stock, sentence = verdict(metric, value, low, high, Band(*tolerance), table["interval_level"][against],
                              at_ceiling=table["at_ceiling"][against])
    return stock == result["verdict"] and _NUMBER.sub("#", sentence) == _NUMBER.sub("#", result["explanation"])


@functools.cache
def _environment() -> jinja2.Environment:
    """Templates ship inside the package; StrictUndefined turns a template typo into an error, not a blank."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fairvision.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.tests.update(restated=_restated)
    environment.filters.update(pct=fmt.pct, level=fmt.level, num=fmt.num, count=fmt.count, plain=fmt.plain, sig=fmt.sig,
                               interval=fmt.interval, band=fmt.band, odds=fmt.odds)
    # The CSS badges take the charts' colours and words, so a status looks the same in a table and in a chart.
    environment.globals.update(
        version=fairvision.__version__,
        status_colours={status: colour for status, (colour, _) in BADGES.items()},
        status_text={status: text for status, (_, text) in BADGES.items()},
        status_meaning=STATUS_MEANING | {NOT_MEASURED: NOT_MEASURED_MEANING},
        group_statuses=STATUSES,
        rate_titles={name: rate.title for name, rate in RATES.items()},
        comparisons=COMPARISONS,
        against_all=AGAINST,
    )
    return environment
