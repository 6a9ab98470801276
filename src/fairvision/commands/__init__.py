"""One module per sub-command; each stage's is what DVC runs (``python -m fairvision.commands.<stage>``)."""
