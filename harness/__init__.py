"""holdout: grade ML-engineer take-home submissions in a hardened sandbox against hidden data.

The library API is :func:`harness.grade`; the ``grade`` command is a thin skin over it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from harness.api import grade as grade


def __getattr__(name: str):
    # Keep `import harness` cheap: the pipeline pulls in Docker and scikit-learn.
    if name == "grade":
        from harness.api import grade

        return grade
    raise AttributeError(name)
