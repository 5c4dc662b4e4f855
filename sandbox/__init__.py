"""The Docker sandbox: image build, the hardened container runner, cleanup, and the
in-container runner (``entry.py``, copied into the image)."""

LABEL = "io.holdout.managed"
"""Every container and image holdout creates carries this label (for prune)."""
PID_LABEL = "io.holdout.pid"
"""The pid of the holdout process that created a container (removed on that process's interrupt)."""
PYTHON_LABEL = "io.holdout.python"
"""On a built runtime image: its Python's full version (``3.11.2``), probed in the base at build
time; candidates' requirements are resolved for it (:func:`sandbox.image.image_layout`)."""
