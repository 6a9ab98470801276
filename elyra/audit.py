"""Elyra node `audit`: per-group metrics, intervals and verdicts per dataset and backbone, as dvc.yaml's
`audit@<dataset>-<backbone>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("audit", __file__))
