"""Elyra node `train`: one model per dataset, backbone and seed, as dvc.yaml's `train@<dataset>-<backbone>-<seed>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("train", __file__))
