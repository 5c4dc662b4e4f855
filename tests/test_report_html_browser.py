"""report.html in a real browser: headless Chromium renders it, takes a screenshot that is not
blank, logs no console message (no CSP violation, no error), and the score and criteria are in
the rendered page. Needs Debian's ``chromium`` (``make deps`` installs it as root); without it
the test skips, and with ``REQUIRE_DOCKER=1`` (CI) it fails with the install hint."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from sample_reports import realistic_report

from harness.reports.assembly import ARTIFACTS_STAMP
from harness.reports.write import write_reports

INSTALL_HINT = "install it with `apt-get install -y chromium` (as root; `make deps` does this)"
WIDTH, HEIGHT = 1280, 2000


def _required() -> bool:
    return os.environ.get("REQUIRE_DOCKER", "") in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if _required():
        pytest.fail(f"headless Chromium is missing: {INSTALL_HINT} (REQUIRE_DOCKER=1, so this is a failure)")
    pytest.skip(f"headless Chromium is missing: {INSTALL_HINT}")


def run_chromium(binary: str, url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
        url,
    ]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


def console_lines(stderr: str) -> list[str]:
    """Messages the page logged to the console (CSP violations, uncaught errors, console.*)."""
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line or "Uncaught" in line or "Refused to" in line or "violates the following" in line
    ]


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, channels, rows) of an 8-bit, non-interlaced RGB/RGBA PNG, with the stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def luminance(rows: list[bytes], channels: int, x0: int, x1: int, y0: int, y1: int, step: int = 4) -> list[float]:
    out = []
    for y in range(y0, y1, step):
        row = rows[y]
        for x in range(x0, x1, step):
            r, g, b = row[x * channels : x * channels + 3]
            out.append(0.2126 * r + 0.7152 * g + 0.0722 * b)
    return out


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    artifacts = out / "artifacts"
    artifacts.mkdir()
    (artifacts / ARTIFACTS_STAMP).write_text(realistic_report().submission.sha256 + "\n")
    (artifacts / "stdout.txt").write_text("5-fold CV F1 on train: 0.950\n")
    write_reports(realistic_report(), out)
    return out


def test_console_check_catches_a_csp_violation(chromium, tmp_path):
    """The console check below is not vacuous: a page that breaks the policy is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        "</head><body><p>x</p><script>console.log(1)</script></body></html>"
    )
    proc = run_chromium(chromium, bad.as_uri(), "--dump-dom", profile=tmp_path / "profile")
    assert console_lines(proc.stderr), proc.stderr[-2000:]


def test_report_renders_with_no_console_errors_and_is_not_blank(chromium, report_dir, tmp_path):
    shot = tmp_path / "report.png"
    page = report_dir / "report.html"
    proc = run_chromium(chromium, page.as_uri(), f"--screenshot={shot}", profile=tmp_path / "profile")
    assert shot.is_file(), proc.stderr[-2000:]
    assert console_lines(proc.stderr) == []

    width, height, channels, rows = decode_png(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    everything = luminance(rows, channels, 0, width, 0, height, step=8)
    assert statistics.pstdev(everything) > 20, "the screenshot is (nearly) one colour"
    assert len({round(v) for v in everything}) > 50
    header = luminance(rows, channels, 0, width, 0, 60)
    assert statistics.median(header) < 60, "the dark score band is at the top"
    assert max(header) > 200, "and has light text (the score) on it"
    body = luminance(rows, channels, 100, width - 100, 200, 1200)
    assert statistics.median(body) > 200 and min(body) < 80, "the scorecard: dark text on a light page"


def test_score_and_criteria_are_in_the_rendered_page(chromium, report_dir, tmp_path):
    proc = run_chromium(chromium, (report_dir / "report.html").as_uri(), "--dump-dom", profile=tmp_path / "profile")
    dom = proc.stdout
    assert re.search(r'id="score"[^>]*>80\.[56]<small>', dom), dom[:2000]
    report = realistic_report()
    for criterion in report.criteria:
        assert f'id="criterion-{criterion.id}"' in dom and criterion.title in dom.replace("&amp;", "&")
    assert "Questions to ask in the interview" in dom
    assert "<script" not in dom.split("</head>", 1)[1].replace("&lt;script", "")  # nothing candidate-made became a tag
    assert console_lines(proc.stderr) == []
