"""Fixtures of the hostile-submission catalogue: settings on the real data and image, the
assignment variants, and a fresh :class:`Env` per case (own temp dir, a host folder under
attack, a secret in the environment)."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest

from harness.settings import Settings

from .catalogue import GROUPS, Env
from .variants import APPLIED_ML, make_variant

TIMINGS = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def variants_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("assignments")
    make_variant(root / "lean")
    make_variant(root / "short_cells", entry={"cell_timeout_s": 4})
    make_variant(
        root / "small_intake",
        intake={"member_bytes": 64 * 1024, "total_bytes": 256 * 1024, "archive_bytes": 512 * 1024},
    )
    return root


@pytest.fixture(scope="session")
def hostile_settings(data_dir, session_cache, sandbox_image, variants_root) -> Settings:
    return Settings(
        data_dir=data_dir,
        cache_dir=session_cache,
        image=sandbox_image,
        allow_download=False,
        assignment_paths=(variants_root,),
    )


@pytest.fixture(scope="session")
def prepared_dir(hostile_settings) -> Path:
    from harness.assignments import find_assignment
    from harness.data import prepare_assignment

    return prepare_assignment(find_assignment(APPLIED_ML, hostile_settings), hostile_settings).root


@pytest.fixture
def env(tmp_path, hostile_settings, variants_root, prepared_dir, monkeypatch) -> Env:
    secret = "HOST-SECRET-" + secrets.token_hex(8)
    tmp_root = tmp_path / "harness-tmp"
    tmp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    monkeypatch.setenv("HOLDOUT_HOST_SECRET", secret)
    target = tmp_path / "host-target"
    target.mkdir()
    (target / "secret.txt").write_text(secret + "\n")
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    assignments = {p.name: p for p in variants_root.iterdir()}
    assignments["real"] = APPLIED_ML
    return Env(
        tmp=case_dir,
        tmp_root=tmp_root,
        host_target=target,
        hidden_labels=prepared_dir / "hidden" / "test_labels.csv",
        secret=secret,
        settings=hostile_settings,
        assignments=assignments,
        prepared=prepared_dir,
    )


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> str:
    """Headless Chromium, with a positive control run once (a missing browser fails under
    ``REQUIRE_DOCKER=1``, like tests/test_report_html_browser.py)."""
    from .browser import control_works, find_chromium

    binary = find_chromium()
    if binary is None:
        hint = "headless Chromium is missing: `apt-get install -y chromium` (as root; `make deps` does this)"
        if os.environ.get("REQUIRE_DOCKER", "") in ("1", "true", "yes"):
            pytest.fail(f"{hint} (REQUIRE_DOCKER=1, so this is a failure)")
        pytest.skip(hint)
    control_works(binary, tmp_path_factory.mktemp("chromium-control"))
    return binary


@pytest.fixture
def record_timing(request):
    def record(case_id: str, group: str, seconds: float, docker: bool) -> None:
        request.config.stash.setdefault(TIMINGS, []).append((case_id, group, seconds, docker))

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = config.stash.get(TIMINGS, [])
    if not rows:
        return
    terminalreporter.section("hostile catalogue")
    for group in GROUPS:
        mine = [r for r in rows if r[1] == group]
        if mine:
            docker = sum(r[2] for r in mine if r[3])
            terminalreporter.write_line(
                f"{group:<9} {len(mine):>3} cases  {sum(r[2] for r in mine):6.1f} s ({docker:.1f} s with containers)"
            )
    terminalreporter.write_line(f"{'total':<9} {len(rows):>3} cases  {sum(r[2] for r in rows):6.1f} s")
