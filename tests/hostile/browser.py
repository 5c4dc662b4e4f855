"""Headless Chromium as the judge of "no candidate script runs": the payloads in the report
cases set ``data-pwned`` on ``<body>`` when they execute; the DOM Chromium dumps after a
virtual-time budget must not have it, and the console must be silent (a blocked inline script
would at least log a CSP refusal, i.e. a payload reached the page un-sanitised)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

PWNED = re.compile(r"<body[^>]*\bdata-pwned\b")
PAYLOAD = "document.body.setAttribute('data-pwned','1')"
"""JavaScript every report-group payload runs if it ever executes."""
CONSOLE = ("Refused to", "Uncaught", ":CONSOLE", "violates the following")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def dump_dom(binary: str, page: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    ]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


def control_works(binary: str, tmp: Path) -> None:
    """The detector detects: a page without CSP whose inline script runs shows the marker."""
    page = tmp / "control.html"
    page.write_text(f"<!DOCTYPE html><html><body><script>{PAYLOAD}</script><p>control</p></body></html>")
    proc = dump_dom(binary, page, tmp / "control-profile")
    assert PWNED.search(proc.stdout), (
        "the positive control did not run: the browser check would prove nothing",
        proc.stdout[-500:],
        proc.stderr[-1500:],
    )


def assert_no_script_runs(binary: str, out_dir: Path) -> None:
    pages = [out_dir / "report.html", out_dir / "artifacts" / "notebook.html"]
    for page in [p for p in pages if p.is_file()]:
        proc = dump_dom(binary, page, out_dir.parent / f"profile-{page.stem}")
        assert proc.returncode == 0, proc.stderr[-1500:]
        assert "</body>" in proc.stdout, f"{page.name} did not render"
        assert not PWNED.search(proc.stdout), f"a candidate script ran in {page.name}"
        noise = [line for line in proc.stderr.splitlines() if any(sign in line for sign in CONSOLE)]
        assert not noise, f"{page.name}: the console reports blocked or failing content: {noise[:3]}"
