"""Elyra node `evaluate`: each model's test predictions, as dvc.yaml's `evaluate@<dataset>-<backbone>-<seed>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("evaluate", __file__))
