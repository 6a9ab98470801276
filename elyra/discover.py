"""Elyra node `discover`: cohorts nobody configured, with false discoveries controlled, per dataset and backbone,
as dvc.yaml's `discover@<dataset>-<backbone>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("discover", __file__))
