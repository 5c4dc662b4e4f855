"""__TITLE__: your solution starts here.

Run it the way the grader will, from this folder:

    DATA_DIR=data OUTPUT_DIR=out python __SCRIPT__

README.md says what is in DATA_DIR, which file you must write to OUTPUT_DIR, and how it is
scored. In the sandbox DATA_DIR is /data (read-only) and OUTPUT_DIR is /output.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    raise NotImplementedError("read the inputs from DATA_DIR and write your output to OUTPUT_DIR (see README.md)")


if __name__ == "__main__":
    main()
