"""fairvision on Kubeflow: the stages as a KFP v2 pipeline, and the Kubernetes manifests around them."""
