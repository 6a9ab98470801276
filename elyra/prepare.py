"""Elyra node `prepare`: each dataset's manifest, shards and datasheet, as dvc.yaml's `prepare@<dataset>`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("prepare", __file__))
