"""The panel's similarity view as an attack surface: candidate code is tokenised, fingerprinted
and shown side by side to a reviewer (``grade similarity``). Files built to break the tokeniser
or the notebook reader, oversized files and markup in code must neither crash the comparison
nor reach the page as active content."""

from __future__ import annotations

from .browser import PAYLOAD as P
from .builders import MANIFEST, script, write_tree
from .catalogue import Case, Env, Expect

MARKUP = f"<script>{P}</script><img src=x onerror={P}>"


def _similarity_breakers(env: Env):
    body = "write_all_ham()\n"
    shared = "".join(
        f"def helper_{i}(values):\n    return [v * {i} for v in values if v]  # {MARKUP}\n\n" for i in range(20)
    )
    root = write_tree(
        env.tmp / "submission",
        {
            "predict.py": script(body, header=f"PAYLOAD = {MARKUP!r}\n" + shared),
            "copied.py": f"X = {MARKUP!r}\n" + shared,
            "unclosed.py": "x = " + "(" * 500 + "\n",
            "binary.py": b"\x00\xff\xfe" * 1000 + b"\nprint('x')\n",
            "deep.ipynb": "[" * 100_000 + "]" * 100_000,
            "cells.ipynb": '{"cells": [{"cell_type": "code", "source": 7}, 3, {"cell_type": "code", "source": [1, "x = 1"]}]}',
            "huge.py": "y = 1\n" * 400_000,
            "submission.toml": MANIFEST,
        },
    )
    env.extra["submission"] = root
    return root


def _similarity_page_is_inert(outcome, env: Env) -> None:
    from harness.panel.similarity import load_code, render_similarity_html, similarity

    code = load_code(env.extra["submission"])
    assert {"predict.py", "copied.py", "unclosed.py", "deep.ipynb"} <= set(code), sorted(code)
    assert len(code["huge.py"]) <= 2**20 < 2_400_000, "an oversized file was read whole"
    pairs, docs = similarity({"candidate": code, "<b>other</b>": {"copied.py": code["copied.py"]}})
    assert pairs and pairs[0]["spans"], "the shared helpers were not found"
    page = render_similarity_html({"submissions": 2, "k": 12, "window": 8, "pairs": pairs}, docs)
    assert "<script>" not in page and "<img" not in page and "<b>other" not in page
    assert "&lt;script&gt;" in page, "the matching code is not shown (escaped)"
    assert "default-src &#x27;none&#x27;" in page


CASES = [
    Case(
        "code_that_breaks_similarity",
        "report",
        "code built against `grade similarity`: <script> in matched code, an unclosed 500-deep paren, NUL bytes "
        "and invalid UTF-8 in a .py, a notebook nested 100,000 deep, notebook cells of the wrong types, a 2.4 MB .py",
        _similarity_breakers,
        Expect(
            status=None,
            check=_similarity_page_is_inert,
            note="compared without error; file reads capped; the side-by-side page escapes the code, CSP",
        ),
    ),
]
