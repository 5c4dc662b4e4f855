"""The executed notebook as a standalone, sanitised HTML page for the reviewer.

The notebook was written by the candidate's code inside the sandbox: it is untrusted data.
nbconvert renders it with the ``basic`` template (no scripts, no CDN links); every piece of
HTML that came from the notebook (Markdown cells, ``text/html``/SVG outputs) passes through a
bleach allow-list that *strips* anything else (scripts, iframes, event handlers, forms, meta
refresh, external images); and the page carries the same Content-Security-Policy as the
report, so nothing would run or load even if something slipped through.

Everything from the notebook sits in one labelled frame ("Candidate output — not from holdout");
the harness's notice is above it, outside, in a class candidate HTML may not use (class
attributes naming the page's own notice or frame classes are stripped), so a notebook cannot
render a notice that passes for the harness's. Invisible format characters (bidi overrides,
zero-width) are shown as ``⟨U+202E⟩`` escapes (:mod:`harness.visible`).
"""

from __future__ import annotations

import functools
import html
import json
import re
import tempfile
import warnings
from pathlib import Path

from harness.report_html import CANDIDATE_LABEL, CSP
from harness.visible import visible

MAX_NOTEBOOK_BYTES = 64 * 2**20

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div", "dl", "dt",
    "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p",
    "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
})
_DATA_IMAGE = re.compile(r"^data:image/(png|jpe?g|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


_OWN_CLASSES = re.compile(r"(?:^|\s)(?:holdout|banner|candidate)", re.IGNORECASE)
"""Class names of the page's own notice and frame: candidate HTML may not wear them."""


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return not _OWN_CLASSES.search(value)
    if name in ("id", "title", "colspan", "rowspan", "align"):
        return True
    if tag == "img" and name == "alt":
        return True
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.match(value))
    if tag == "a" and name == "href":
        return value.startswith(("#", "https://", "http://"))
    return False


def clean_html(fragment: object) -> str:
    """Sanitise untrusted HTML: allow-listed tags and attributes only; everything else stripped."""
    import bleach

    text = fragment.decode("utf-8", "replace") if isinstance(fragment, bytes) else str(fragment)
    return bleach.clean(text, tags=ALLOWED_TAGS, attributes=_allowed_attribute, protocols=["http", "https", "data"],
                        strip=True, strip_comments=True)


PAGE_CSS = """
body{font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;max-width:1000px;margin:0 auto;padding:16px 24px}
.holdout-notice{background:#fef3c7;border:1px solid #f59e0b;border-radius:6px;padding:8px 12px;margin-bottom:16px}
.holdout-candidate{border:2px dashed #7c3aed;border-radius:6px;padding:4px 12px 8px;background:#fff}
.holdout-candidate-label{font-size:11px;font-weight:700;color:#6d28d9;text-transform:uppercase;letter-spacing:.04em}
.cell{margin:12px 0}.input,.output_area{display:flex;gap:8px}
.prompt{min-width:64px;text-align:right;color:#6b7280;font:12px ui-monospace,monospace;padding-top:6px}
.inner_cell,.output_subarea{flex:1;min-width:0}.input_area{background:#f6f8fa;border:1px solid #e5e7eb;border-radius:4px}
pre{margin:0;padding:6px 8px;font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word}
.output_stderr pre{background:#fef2f2}.output_error pre{background:#fee2e2}
.output_subarea img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #e5e7eb;padding:2px 6px}
.anchor-link{display:none}
.ansi-red-fg{color:#b91c1c}.ansi-green-fg{color:#15803d}.ansi-yellow-fg{color:#a16207}.ansi-blue-fg{color:#1d4ed8}
.ansi-cyan-fg{color:#0e7490}.ansi-magenta-fg{color:#a21caf}.ansi-bold{font-weight:700}
"""


WARM_UP_NOTEBOOK = json.dumps({
    "nbformat": 4, "nbformat_minor": 5, "metadata": {},
    "cells": [
        {"cell_type": "markdown", "id": "w0", "metadata": {}, "source": "# warm-up\n\n*text* `code`"},
        {"cell_type": "code", "id": "w1", "metadata": {}, "execution_count": 1, "source": "import os\nprint(1)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]},
    ],
})
"""Our own constant notebook, rendered once by :func:`warm_up`."""


@functools.cache  # once per process (a batch grades many notebooks)
def warm_up() -> None:
    """Import the renderer's dependencies and render a tiny notebook of our own, discarded.

    nbconvert, bleach and pygments cost about a second to import, and as much again the first
    time they compile their regexes; the pipeline calls this in the background while the sandbox
    runs a notebook whose report will be rendered, so neither delays the report.
    """
    try:
        import bleach  # noqa: F401
        from nbconvert import HTMLExporter  # noqa: F401
    except ImportError:
        return  # render_notebook says so in the report
    with tempfile.TemporaryDirectory(prefix="holdout-warm-up-") as tmp:
        source = Path(tmp) / "warm.ipynb"
        source.write_text(WARM_UP_NOTEBOOK, encoding="utf-8")
        render_notebook(source, Path(tmp) / "warm.html")


def render_notebook(source: Path, target: Path, *, title: str = "executed notebook") -> str | None:
    """Write ``target`` (HTML) from the notebook at ``source``; return an error text instead of raising."""
    try:
        import nbformat
        from nbconvert import HTMLExporter
        from pygments.formatters import HtmlFormatter
    except ImportError as exc:
        return f"nbconvert is not installed ({exc.name})"
    try:
        with open(source, "rb") as fh:
            raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
        if len(raw) > MAX_NOTEBOOK_BYTES:
            return f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
        notebook = nbformat.reads(raw.decode("utf-8", "replace"), as_version=4)
        exporter = HTMLExporter(template_name="basic", sanitize_html=True, exclude_input_prompt=False)
        exporter.register_filter("clean_html", clean_html)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body, _ = exporter.from_notebook_node(notebook)
    except Exception as exc:  # an unreadable notebook is a note in the report, never a crash
        return f"could not render the notebook: {type(exc).__name__}: {str(exc)[:200]}"
    pygments_css = HtmlFormatter(style="default").get_style_defs(".highlight")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}{pygments_css}</style></head><body>"
        '<div class="holdout-notice">Rendered from the notebook the candidate\'s code left after the graded run. '
        "Untrusted content: sanitised, and scripts cannot run on this page. The score is in report.html, "
        "never on this page.</div>"
        f'<div class="holdout-candidate"><div class="holdout-candidate-label">{CANDIDATE_LABEL}</div>'
        f"{visible(body)}</div></body></html>\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return None


ARTIFACTS_DIR = "artifacts"


def artifact_links(out_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Render ``artifacts/executed.ipynb`` to ``artifacts/notebook.html`` when present; return the
    links the HTML report should show (name → relative href) and notes on what failed."""
    folder = out_dir / ARTIFACTS_DIR
    links: dict[str, str] = {}
    notes: list[str] = []
    executed = folder / "executed.ipynb"
    if executed.is_file() and not executed.is_symlink():
        error = render_notebook(executed, folder / "notebook.html")
        if error is None:
            links["notebook"] = f"{ARTIFACTS_DIR}/notebook.html"
        else:
            notes.append(f"executed notebook not rendered: {error}")
        links["executed.ipynb"] = f"{ARTIFACTS_DIR}/executed.ipynb"
    for name in ("stdout", "stderr"):
        path = folder / f"{name}.txt"
        if path.is_file() and not path.is_symlink():
            links[name] = f"{ARTIFACTS_DIR}/{name}.txt"
    return links, notes
