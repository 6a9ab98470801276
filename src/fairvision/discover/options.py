"""params.yaml's `discover` section, read and checked here, where discovery's knobs are known.

The params schema imports no stage (DESIGN: a change to one stage's code must not rerun
another), so this stage validates its own section, naming the dotted key of anything wrong;
the verdicts use the audit's tolerance bands and level, and the favourable label is resolved
as the audit resolves it, so a cohort is judged as the audit judges a group.
"""

from __future__ import annotations

from typing import Any, Sequence

from fairvision.audit.tolerance import bands
from fairvision.discover.settings import MAX_ORDER, PROCEDURES, Settings
from fairvision.errors import FairvisionError
from fairvision.params import Audit, Section

KEYS = ("fdr", "procedure", "false_alarm", "max_candidates", "max_order", "power", "min_cohort_size", "metrics",
        "extra_columns", "mdss", "embeddings", "seed")


def discover_options(section: Section, audit: Audit) -> tuple[Settings, tuple[str, ...]]:
    """The settings and the extra metadata columns to search, from the `discover` ``section``."""
    section.only(*KEYS)
    mdss = section.section("mdss").only("subsets", "iterations", "penalty")
    embeddings = section.section("embeddings").only("components", "dimensions", "error_weight", "top")
    false_alarm = section.raw("false_alarm")
    minimum = section.raw("min_cohort_size")
    try:
        settings = Settings(
            bands=bands(audit.tolerance), level=audit.bootstrap.level,
            fdr=section.number("fdr", 1e-6, 0.999999),
            procedure=section.choice("procedure", PROCEDURES),  # type: ignore[arg-type]
            false_alarm=None if false_alarm is None else section.number("false_alarm", 1e-6, 0.999999),
            max_candidates=section.integer("max_candidates"),
            max_order=section.integer("max_order"),
            power=section.number("power", 0.01, 0.99),
            min_cohort_size=None if minimum == "auto" else section.integer("min_cohort_size"),
            metrics=tuple(_strings(section, "metrics", allow_empty=False)),
            mdss_subsets=mdss.integer("subsets", 0), mdss_iterations=mdss.integer("iterations"),
            mdss_penalty=mdss.number("penalty", 1e-12, 1e6),
            embedding_components=embeddings.integer("components", 0),
            embedding_dimensions=embeddings.integer("dimensions"),
            embedding_error_weight=embeddings.number("error_weight", 0, 1e6),
            embedding_shares=tuple(_shares(embeddings, "top")),
            seed=section.integer("seed", 0),
        )
    except ValueError as error:
        raise FairvisionError(f"{section.source}: {error}") from None
    if settings.max_order > MAX_ORDER:
        raise section._fail("max_order", f"an integer in [1, {MAX_ORDER}]", settings.max_order)
    return settings, tuple(_strings(section, "extra_columns", allow_empty=True))


def favorable_label(audit: Audit, labels: Sequence[str], source: str) -> str:
    """`audit.favorable_label` as the audit stage reads it: `auto` is the first label (the datasheet's, sorted).

    Repeated here, not imported from the audit stage, so that discovery's code deps stay out of the audit's.
    """
    favorable = labels[0] if audit.favorable_label == "auto" else audit.favorable_label
    if favorable not in labels:
        raise FairvisionError(f"{source}: `audit.favorable_label` {favorable!r} is not a label; labels: "
                              f"{', '.join(labels)}")
    return favorable


def check_extra_columns(extra: Sequence[str], *, attributes: Sequence[str], protected: Sequence[str], target: str,
                        source: str, datasheet: str) -> None:
    """Each extra column must be an attribute column of the dataset that is neither protected nor the target.

    `evaluate` copies every attribute column of the manifest (the datasheet's ``attributes``) into the
    predictions, so those are the columns discovery can search; a protected one is searched already, and
    the target is the label itself.
    """
    for column in extra:
        if column in protected:
            why = "is a protected attribute, searched already"
        elif column == target:
            why = "is the dataset's target: a cohort of it would be a label, not a group of people"
        elif column not in attributes:
            why = (f"is not an attribute column of the dataset ({datasheet} lists "
                   f"{', '.join(attributes) or 'none'}; the predictions carry only those)")
        else:
            continue
        raise FairvisionError(f"{source}: `discover.extra_columns` names {column!r}, which {why}")


def _strings(section: Section, key: str, *, allow_empty: bool) -> list[str]:
    value: Any = section.raw(key)
    if value is None and allow_empty:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or (
            not value and not allow_empty) or len(set(value)) != len(value):
        raise section._fail(key, "a list of names without repeats" + ("" if allow_empty else ", not empty"), value)
    return value


def _shares(section: Section, key: str) -> list[float]:
    value: Any = section.raw(key)
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1
                                              for v in value) or len(set(value)) != len(value):
        raise section._fail(key, "a list of shares in (0, 1) without repeats ([] = none)", value)
    return [float(v) for v in value]
