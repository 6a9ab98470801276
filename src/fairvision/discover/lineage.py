"""Whether an intersection is a finding of its own or only inherits its parent's gap.

If the model fails every Black person, it fails Black women aged 20–29 too: reporting that
intersection as a discovery would send a reader after the wrong cohort. An intersection is
its own finding only when, on the confirm half, it is worse than the rest of each parent
(the parent without the cohort), by the same one-sided exact test. "Worse than every
parent's rest" is an intersection of hypotheses, so its p-value is the largest of the
parents' (an intersection–union test, valid without any correction). The claims "own
finding" of all selected intersections are one more family: Benjamini–Hochberg at q over
them (``own_findings``), so false "own" claims are controlled like false discoveries. An
intersection that is not its own finding is "inherited from" the parent that explains it
best (the one whose test is weakest).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from fairvision.discover.cohorts import CellTable, Cohort
from fairvision.discover.fisher import greater_p_values
from fairvision.discover.settings import Procedure
from fairvision.discover.stepup import step_up


@dataclasses.dataclass(frozen=True)
class Lineage:
    """``own``; else ``inherited_from`` names the parent; ``parents``: each parent's p-value against the cohort."""

    own: bool
    inherited_from: Cohort | None
    parents: Mapping[Cohort, float]

    @property
    def p_value(self) -> float:
        """The intersection–union p-value of "worse than every parent's rest" (0 for a single attribute: no parent)."""
        return max(self.parents.values(), default=0.0)

    @property
    def weakest(self) -> Cohort | None:
        return max(self.parents, key=lambda p: self.parents[p]) if self.parents else None


def parents_test(cohort: Cohort, cells: CellTable, per_cell: np.ndarray) -> Lineage:
    """``cohort`` against each parent's rest on the confirm half's ``cells`` (``per_cell``: ``(F, 2)``), undecided."""
    parents = cohort.parents()
    if not parents:
        return Lineage(True, None, {})
    mine = cells.counts([cohort], per_cell)[0]
    theirs = cells.counts(list(parents), per_cell)
    p = greater_p_values(mine[0], mine[1], theirs[:, 0], theirs[:, 1])
    return Lineage(False, None, {parent: float(value) for parent, value in zip(parents, p)})


def own_findings(tested: Sequence[Lineage], q: float, procedure: Procedure) -> list[Lineage]:
    """Decide each: single attributes are their own; intersections by the step-up at ``q`` over their p-values."""
    family = [i for i, t in enumerate(tested) if t.parents]
    rejected, _ = step_up(np.array([tested[i].p_value for i in family]), q, procedure)
    decided = list(tested)
    for i, own in zip(family, rejected):
        decided[i] = dataclasses.replace(tested[i], own=bool(own), inherited_from=None if own else tested[i].weakest)
    return decided
