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

It is also bounded: a forged 3 MB notebook once took minutes to render into a 31 MB page (the
cost is per cell and per character of source and output). The file is read without following
links, at most :data:`MAX_NOTEBOOK_BYTES`, with a nesting limit; before nbconvert sees it, it is
cut to :data:`MAX_CELLS` cells, :data:`MAX_CELL_SOURCE_CHARS` of source per cell and
:data:`MAX_SOURCE_CHARS` in all, :data:`MAX_OUTPUT_TEXT_CHARS` per output text and
:data:`MAX_OUTPUT_CHARS` in all, images up to :data:`MAX_IMAGE_BYTES` (each cut visibly marked);
and the render runs under a wall-clock limit (:data:`RENDER_TIMEOUT_S`), after which the report
says so and no page is written. Only a notebook run's notebook is rendered: what decides that is
the harness's own entry point (:func:`artifact_links`'s ``notebook_run``), never a file the
candidate's code left in its logs folder.
"""

from __future__ import annotations

import functools
import html
import json
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from harness.reports.html_common import CANDIDATE_LABEL, CSP
from harness.visible import visible

MAX_NOTEBOOK_BYTES = 16 * 2**20
MAX_NOTEBOOK_DEPTH = 32
MAX_CELLS = 200
MAX_OUTPUTS_PER_CELL = 20
MAX_CELL_SOURCE_CHARS = 20_000
MAX_SOURCE_CHARS = 200_000
MAX_OUTPUT_TEXT_CHARS = 20_000
MAX_OUTPUT_CHARS = 200_000
MAX_IMAGE_BYTES = 2 * 2**20
MAX_IMAGES_BYTES = 8 * 2**20
RENDER_TIMEOUT_S = 60.0

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
        "var",
    }
)
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
    return bleach.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes=_allowed_attribute,
        protocols=["http", "https", "data"],
        strip=True,
        strip_comments=True,
    )


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


WARM_UP_NOTEBOOK = json.dumps(
    {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "w0", "metadata": {}, "source": "# warm-up\n\n*text* `code`"},
            {
                "cell_type": "code",
                "id": "w1",
                "metadata": {},
                "execution_count": 1,
                "source": "import os\nprint(1)",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
            },
        ],
    }
)
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


class _Budget:
    """What is left to show; every cut leaves a visible marker."""

    def __init__(self) -> None:
        self.source = MAX_SOURCE_CHARS
        self.output = MAX_OUTPUT_CHARS
        self.images = MAX_IMAGES_BYTES
        self.cuts = 0

    def text(self, value: Any, per_item: int, pool: str) -> str:
        text = "".join(str(v) for v in value) if isinstance(value, list) else str(value or "")
        keep = max(0, min(per_item, getattr(self, pool)))
        setattr(self, pool, getattr(self, pool) - min(len(text), keep))
        if len(text) <= keep:
            return text
        self.cuts += 1
        return text[:keep] + f"\n[... {len(text) - keep:,} characters not shown in this report ...]\n"


def trim_notebook(data: Any) -> tuple[dict, int]:
    """An nbformat-4 notebook dict cut to the render caps (a new dict; the input is not
    changed), and how many cuts were made. Raises ``ValueError`` for anything else."""
    if not isinstance(data, dict) or data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        raise ValueError("not an nbformat 4 notebook")
    budget = _Budget()
    cells = [c for c in data["cells"] if isinstance(c, dict)]
    kept = [_trim_cell(c, budget) for c in cells[:MAX_CELLS]]
    if len(cells) > MAX_CELLS:
        budget.cuts += 1
        kept.append(
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": f"*[{len(cells) - MAX_CELLS:,} more cells not shown in this report]*",
            }
        )
    language = (data.get("metadata") or {}).get("language_info") if isinstance(data.get("metadata"), dict) else None
    name = language.get("name") if isinstance(language, dict) and isinstance(language.get("name"), str) else "python"
    notebook = {"nbformat": 4, "nbformat_minor": 4, "metadata": {"language_info": {"name": name[:40]}}, "cells": kept}
    return notebook, budget.cuts


def _trim_cell(cell: dict, budget: _Budget) -> dict:
    kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "raw"
    out: dict[str, Any] = {
        "cell_type": kind,
        "metadata": {},
        "source": budget.text(cell.get("source"), MAX_CELL_SOURCE_CHARS, "source"),
    }
    if kind != "code":
        return out
    count = cell.get("execution_count")
    out["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
    outputs = (
        [o for o in cell.get("outputs") or [] if isinstance(o, dict)] if isinstance(cell.get("outputs"), list) else []
    )
    out["outputs"] = [_trim_output(o, budget) for o in outputs[:MAX_OUTPUTS_PER_CELL]]
    if len(outputs) > MAX_OUTPUTS_PER_CELL:
        budget.cuts += 1
        out["outputs"].append(
            {
                "output_type": "stream",
                "name": "stdout",
                "text": f"[... {len(outputs) - MAX_OUTPUTS_PER_CELL:,} more outputs not shown ...]\n",
            }
        )
    return out


def _trim_output(output: dict, budget: _Budget) -> dict:
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {
            "output_type": "stream",
            "name": name,
            "text": budget.text(output.get("text"), MAX_OUTPUT_TEXT_CHARS, "output"),
        }
    if kind == "error":
        traceback = budget.text(
            "\n".join(str(t) for t in output.get("traceback") or [] if isinstance(t, str))
            if isinstance(output.get("traceback"), list)
            else "",
            MAX_OUTPUT_TEXT_CHARS,
            "output",
        )
        return {
            "output_type": "error",
            "ename": str(output.get("ename") or "")[:200],
            "evalue": budget.text(output.get("evalue"), 2000, "output"),
            "traceback": traceback.split("\n"),
        }
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    shown: dict[str, str] = {}
    for mime, value in list(data.items())[:8]:
        if not isinstance(mime, str):
            continue
        if mime.startswith("image/") and mime != "image/svg+xml":
            size = (
                len(value)
                if isinstance(value, str)
                else sum(len(str(v)) for v in value)
                if isinstance(value, list)
                else 0
            )
            if size > MAX_IMAGE_BYTES or size > budget.images:
                budget.cuts += 1
                shown.setdefault("text/plain", f"[an image of {size:,} bytes, not shown in this report]")
                continue
            budget.images -= size
            shown[mime] = "".join(value) if isinstance(value, list) else str(value)
        else:
            shown[mime] = budget.text(value, MAX_OUTPUT_TEXT_CHARS, "output")
    result: dict[str, Any] = {"output_type": "display_data", "metadata": {}, "data": shown}
    if kind == "execute_result":
        count = output.get("execution_count")
        result.update(
            output_type="execute_result",
            execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        )
    return result


def render_notebook(
    source: Path, target: Path, *, title: str = "executed notebook", timeout_s: float = RENDER_TIMEOUT_S
) -> str | None:
    """Write ``target`` (HTML) from the notebook at ``source``; return an error text instead of raising.

    Read within limits, cut to the render caps, rendered under a wall-clock limit; a render that
    runs out of time is abandoned (its thread can only finish in the background: it returns a
    string, and only this function writes the page).
    """
    try:
        import nbformat  # noqa: F401
        from nbconvert import HTMLExporter  # noqa: F401
        from pygments.formatters import HtmlFormatter
    except ImportError as exc:
        return f"nbconvert is not installed ({exc.name})"
    from harness.safeio import UntrustedDataError, read_json

    try:
        data = read_json(source, max_bytes=MAX_NOTEBOOK_BYTES, max_depth=MAX_NOTEBOOK_DEPTH)
        notebook, cuts = trim_notebook(data)
    except UntrustedDataError as exc:
        reasons = {
            "too_large": f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB",
            "too_deep": f"the notebook is nested deeper than {MAX_NOTEBOOK_DEPTH} levels",
        }
        return reasons.get(exc.code, f"could not read the notebook: {exc}")
    except ValueError as exc:
        return f"could not render the notebook: {exc}"
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["body"] = _export(notebook)
        except Exception as exc:
            done["error"] = f"could not render the notebook: {type(exc).__name__}: {str(exc)[:200]}"

    thread = threading.Thread(target=work, name="holdout-notebook-render", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return f"rendering took longer than {timeout_s:g} s and was abandoned"
    if "error" in done:
        return done["error"]
    pygments_css = HtmlFormatter(style="default").get_style_defs(".highlight")
    cut_note = (
        f" Shortened for this report ({cuts:,} cut(s), each marked); the full notebook is linked beside it."
        if cuts
        else ""
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">'
        f"<title>{html.escape(title)}</title><style>{PAGE_CSS}{pygments_css}</style></head><body>"
        '<div class="holdout-notice">Rendered from the notebook the candidate\'s code left after the graded run. '
        "Untrusted content: sanitised, and scripts cannot run on this page. The score is in report.html, "
        f"never on this page.{html.escape(cut_note)}</div>"
        f'<div class="holdout-candidate"><div class="holdout-candidate-label">{CANDIDATE_LABEL}</div>'
        f"{visible(done['body'])}</div></body></html>\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return None


def _export(notebook: dict) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.from_dict(notebook)
    exporter = HTMLExporter(template_name="basic", sanitize_html=True, exclude_input_prompt=False)
    exporter.register_filter("clean_html", clean_html)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body, _ = exporter.from_notebook_node(node)
    return body


ARTIFACTS_DIR = "artifacts"


def artifact_links(out_dir: Path, *, notebook_run: bool) -> tuple[dict[str, str], list[str]]:
    """Render ``artifacts/executed.ipynb`` to ``artifacts/notebook.html`` when the graded run was
    a notebook run (``notebook_run``: the harness's own entry point decides, not the presence of
    a file) and the file is there; return the links the HTML report should show (name → relative
    href) and notes on what failed."""
    folder = out_dir / ARTIFACTS_DIR
    links: dict[str, str] = {}
    notes: list[str] = []
    executed = folder / "executed.ipynb"
    if notebook_run and executed.is_file() and not executed.is_symlink():
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
