"""Where a model looks, per group: explainers over the exported artifact, per-group mean maps, their
disparity from the reference group, and how faithful each explainer is (the `explain` stage)."""
