"""Elyra node `synth`: the built-in synthetic dataset (data/raw/synthetic), as dvc.yaml's `synth`."""

from fairvision.pipeline.nodes import run_node

raise SystemExit(run_node("synth", __file__))
