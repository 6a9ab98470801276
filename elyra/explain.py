"""Elyra node `explain`: where each first-seed model looks, per group, as dvc.yaml's `explain@<dataset>-<backbone>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("explain", __file__))
