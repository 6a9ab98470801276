"""Elyra node `report`: each dataset's report cards, as dvc.yaml's `report@<dataset>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("report", __file__))
