"""fairvision: reproducible fairness audits of image classifiers."""

__version__ = "0.1.0"
