"""The Docker sandbox: image build, the hardened container runner, cleanup, and the
in-container runner (``entry.py``, copied into the image)."""

LABEL = "io.holdout.managed"
"""Every container and image holdout creates carries this label (for prune)."""
