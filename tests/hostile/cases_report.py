"""Reports as an attack surface: everything the candidate controls (notebook outputs, file names,
stream tails, messages, lint excerpts, the executed notebook itself) reaches a reviewer's browser,
a Markdown PR comment and a JUnit file. Every case here is also opened in headless Chromium;
the invariants check every case's reports statically (no active content, JUnit parses)."""

from __future__ import annotations

from harness.models import Verdict

from .browser import PAYLOAD as P
from .builders import (
    ALL_HAM_CELL,
    MANIFEST,
    code,
    make_zip,
    markdown,
    notebook,
    ok_members,
    script,
    write_tree,
)
from .catalogue import Case, Env, Expect

HTML_PAYLOADS = (
    f"<script>{P}</script>"
    f'<img src=x onerror="{P}">'
    f'<a href="javascript:{P}">click me</a>'
    f'<iframe srcdoc="<script>{P}</script>"></iframe>'
    f"<form action=javascript:{P}><button>go</button></form>"
    f'<meta http-equiv="refresh" content="0;url=javascript:{P}">'
    f"<svg><animate onbegin={P} attributeName=x dur=1s></animate></svg>"
    f"<math><mtext><table><mglyph><style><img src=x onerror={P}>"
    f'<div style="background:url(javascript:{P})" onmouseover="{P}">hover</div>'
)
SVG_PAYLOAD = (
    f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="{P}">'
    f'<script>{P}</script><a xlink:href="javascript:{P}"><text y="20">x</text></a></svg>'
)
EVIL_NAME = f"<img src=x onerror={P}>"
TEXT_PAYLOADS = (
    f"<script>{P}</script> ]]> &amp; \x00\x07\x08\x1b[2J\x1b]0;title\x07 \ufffe\uffff "
    f"[click](javascript:{P}) ![x](https://attacker.invalid/x.png) "
    "[bold red]RED[/bold red] [link=https://attacker.invalid]link[/link] <!-- -->"
)


def _notebook_xss(env: Env):
    cells = [
        ALL_HAM_CELL,
        code(f"""
            from IPython.display import HTML, SVG, Javascript, Markdown, display
            display(HTML({HTML_PAYLOADS!r}))
            display(SVG({SVG_PAYLOAD!r}))
            display(Javascript({P!r}))
            display(Markdown({HTML_PAYLOADS!r} + " [x](javascript:{P})"))
            display({{"text/html": {HTML_PAYLOADS!r}, "image/svg+xml": {SVG_PAYLOAD!r}}}, raw=True)
            print({TEXT_PAYLOADS!r})
        """),
        code(f"raise ValueError({EVIL_NAME!r})"),
        markdown(HTML_PAYLOADS + f" [click](javascript:{P})"),
    ]
    widgets = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"x": {"model_name": f"</script><script>{P}</script>", "state": {}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "widgets": widgets,
        "title": f"</title><script>{P}</script>",
    }
    return write_tree(
        env.tmp / "submission", {"solution.ipynb": notebook(cells, metadata=meta), "submission.toml": MANIFEST}
    )


def _names_in_messages(env: Env):
    return make_zip(
        env.tmp / "submission.zip",
        [
            (f"{EVIL_NAME}.py", "x = 1\n"),
            ("a&b]]>.md", "# notes\n"),
            (f"\"'><svg onload={P}>.txt", "x\n"),
            ("submission.toml", MANIFEST),
        ],
    )


def _lint_excerpt(env: Env):
    body = "write_all_ham()"
    header = f"import json  # </pre></td><script>{P}</script><!--\n"
    return write_tree(
        env.tmp / "submission",
        {
            "predict.py": script(body, header=header),
            "submission.toml": MANIFEST,
            f"<svg onload={P}>.py": f"import os\nx = 1 # ]]> <script>{P}</script>\n",
        },
    )


def _control_names(env: Env):
    return make_zip(env.tmp / "submission.zip", [*ok_members(), (f"evil]]>\x08\x1b[2J\ufffe{EVIL_NAME}.py", "x = 1\n")])


def _stream_tails(env: Env):
    body = f"""
        write_all_ham()
        print({TEXT_PAYLOADS!r}, flush=True)
        sys.stdout.buffer.write(b"invalid utf-8: \\xff\\xfe\\xc0\\x80\\n")
        sys.stdout.flush()
        print({TEXT_PAYLOADS!r}, file=sys.stderr, flush=True)
        raise SystemExit({EVIL_NAME!r})
    """
    return write_tree(env.tmp / "submission", {"predict.py": script(body), "submission.toml": MANIFEST})


def _markup_in_predictions(env: Env):
    body = f"""
        ids = test_ids()
        with open(OUT / "predictions.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "label", "spam_probability"])
            writer.writerow([{EVIL_NAME!r}, "ham", "0.1"])
            for n, i in enumerate(ids):
                writer.writerow([i, {f"<script>{P}</script>"!r} if n % 7 == 0 else "ham", "0.1"])
    """
    return write_tree(env.tmp / "submission", {"predict.py": script(body), "submission.toml": MANIFEST})


def _forged_executed_notebook(env: Env):
    forged = notebook(
        [
            code(
                "print(1)",
                outputs=[
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"text/html": HTML_PAYLOADS, "image/svg+xml": SVG_PAYLOAD, "application/javascript": P},
                    },
                    {"output_type": "stream", "name": "stdout", "text": TEXT_PAYLOADS},
                ],
            ),
            markdown(HTML_PAYLOADS),
        ]
    )
    body = f"""
        write_all_ham()
        with open("/holdout/logs/executed.ipynb", "w", encoding="utf-8") as fh:
            fh.write({forged!r})
    """
    return write_tree(env.tmp / "submission", {"predict.py": script(body), "submission.toml": MANIFEST})


def _linked_logs(env: Env):
    body = f"""
        write_all_ham()
        print("visible before the swap", flush=True)
        for name, target in (("stdout.txt", {str(env.hidden_labels)!r}), ("stderr.txt", "/etc/shadow"),
                             ("executed.ipynb", {str(env.host_target / "secret.txt")!r}),
                             ("runner.json", {str(env.host_target / "secret.txt")!r})):
            path = "/holdout/logs/" + name
            if os.path.lexists(path):
                os.remove(path)
            os.symlink(target, path)
    """
    return write_tree(env.tmp / "submission", {"predict.py": script(body), "submission.toml": MANIFEST})


def _notebook_page(outcome, env: Env) -> None:
    page = outcome.out_dir / "artifacts" / "notebook.html"
    assert page.is_file(), "the executed notebook was not rendered for the reviewer"
    assert "click me" in page.read_text(), "the sanitised outputs are missing from the rendered notebook"


def _script_notebook_ignored(outcome, env: Env) -> None:
    from .cases_bounds import _not_rendered

    _not_rendered(outcome, env)


def _names_escaped(outcome, env: Env) -> None:
    html_text = (outcome.out_dir / "report.html").read_text()
    assert "&lt;img src=x onerror=" in html_text, "the file name is not shown (escaped) in report.html"
    md = (outcome.out_dir / "report.md").read_text()
    assert "\\<img src=x onerror=" in md, "the file name is not shown (escaped) in report.md"


def _junit_carries_the_name(outcome, env: Env) -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring((outcome.out_dir / "junit.xml").read_bytes())
    failure = root.find(".//failure")
    assert failure is not None and "evil]]>" in (failure.text or ""), "the rejected member is not named in junit.xml"
    assert "\x08" not in (failure.text or "") and "\ufffe" not in (failure.text or "")


def _tails_kept(outcome, env: Env) -> None:
    run = outcome.report.sandbox
    assert "<script>" in run.stdout.text and "<script>" in run.stderr.text, "the tails were not captured"
    html_text = (outcome.out_dir / "report.html").read_text()
    assert "&lt;script&gt;" in html_text, "the log tails are not in report.html"


def _links_not_followed(outcome, env: Env) -> None:
    artifacts = outcome.out_dir / "artifacts"
    assert not (artifacts / "executed.ipynb").exists() and not (artifacts / "stdout.txt").exists()
    assert outcome.report.sandbox.stdout.text == "", "a symlinked log was read"


CASES = [
    Case(
        "notebook_outputs_with_scripts",
        "report",
        "notebook outputs and Markdown with <script>, onerror=, javascript:, SVG onload, iframe srcdoc, "
        "meta refresh, a Javascript display and a widget-state breakout",
        _notebook_xss,
        Expect(
            verdict=Verdict.OK,
            messages=("cell_errors",),
            check=_notebook_page,
            note="sanitised page, CSP; no script runs in Chromium",
        ),
        browser=True,
    ),
    Case(
        "file_names_with_markup",
        "report",
        "file names with <img onerror>, &, ]]> and quotes, shown in a message",
        _names_in_messages,
        Expect(
            verdict=Verdict.NOT_RUN,
            messages=("no_entry_point",),
            names="onerror=",
            check=_names_escaped,
            note="escaped in HTML and Markdown; no script runs in Chromium",
        ),
        browser=True,
    ),
    Case(
        "lint_excerpt_with_markup",
        "report",
        "code whose lint excerpt and file name carry </pre><script>",
        _lint_excerpt,
        Expect(verdict=Verdict.OK, messages=("lint_summary",), note="escaped; no script runs in Chromium"),
        browser=True,
    ),
    Case(
        "member_name_with_control_characters",
        "report",
        "a rejected member named with ]]>, backspace, an ANSI clear-screen, U+FFFE and <img onerror>",
        _control_names,
        Expect(
            status="rejected",
            reason="bad_name",
            names="evil]]>",
            runs=0,
            check=_junit_carries_the_name,
            note="junit.xml parses, forbidden characters stripped",
        ),
        browser=True,
    ),
    Case(
        "stream_tails_with_markup",
        "report",
        "stdout/stderr with <script>, ]]>, NUL/BEL/ANSI escapes, U+FFFE, invalid UTF-8, Markdown links and rich markup; "
        "exits with an <img onerror> message",
        _stream_tails,
        Expect(
            verdict=Verdict.CRASHED,
            messages=("stderr_tail",),
            check=_tails_kept,
            note="tails shown escaped; no script runs in Chromium",
        ),
        browser=True,
    ),
    Case(
        "prediction_values_with_markup",
        "report",
        "an id and labels that are HTML payloads, quoted back in messages",
        _markup_in_predictions,
        Expect(verdict=Verdict.OK, messages=("invalid_labels", "unknown_ids"), note="quoted values escaped"),
        browser=True,
    ),
    Case(
        "forged_executed_notebook",
        "report",
        "a script run writes its own executed.ipynb full of payloads into the logs folder",
        _forged_executed_notebook,
        Expect(
            verdict=Verdict.OK,
            check=_script_notebook_ignored,
            note="neither kept nor rendered: only a notebook run's notebook is",
        ),
        browser=True,
    ),
    Case(
        "logs_swapped_for_symlinks",
        "report",
        "stdout.txt, stderr.txt, executed.ipynb and runner.json replaced by symlinks to the hidden labels and host secrets",
        _linked_logs,
        Expect(
            verdict=Verdict.OK,
            check=_links_not_followed,
            note="links not followed: logs and notebook not kept, nothing leaks",
        ),
    ),
]
