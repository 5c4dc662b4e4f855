"""The Docker sandbox: image build, the hardened container runner, cleanup, and the
in-container runner (``entry.py``, copied into the image)."""

LABEL = "io.holdout.managed"
"""Every container and image holdout creates carries this label (for prune)."""
PID_LABEL = "io.holdout.pid"
"""The pid of the holdout process that created a container (removed on that process's interrupt)."""
