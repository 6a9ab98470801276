"""Cohort discovery: the groups nobody thought to audit, with false discoveries controlled.

Split the predictions once into an explore and a confirm half; search labelled
intersections (up to three attributes) and AIF360's MDSS subsets on the explore half; test
each candidate's gap to its complement on the confirm half with an exact one-sided test,
select with Benjamini–Hochberg behind a global false-alarm gate, give the selected FCR-
adjusted intervals and the audit's verdicts, and say which intersections only inherit a
parent's gap. docs/discovery.md has the method and its validation on simulated data.
"""

from fairvision.discover.cohorts import Cohort
from fairvision.discover.confirm import Finding
from fairvision.discover.engine import Discovery, discover
from fairvision.discover.settings import Settings

__all__ = ["Cohort", "Discovery", "Finding", "Settings", "discover"]
