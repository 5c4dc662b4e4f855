"""harness.data: resolving raw sources (local, download, checksum) and prepared-data caching."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.data import (
    PreparedPaths,
    _publish,
    assignment_data_digest,
    load_manifest,
    prepare_assignment,
    resolve_source,
    sha256_file,
    verify_prepared,
)
from harness.errors import DataError
from harness.settings import Settings
from harness.spec import Assignment, SourceSpec, load_assignment

PAYLOAD = b'label\ttext\nham\thello there\nspam\tWIN a "prize", now\n'
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
SOURCE_NAME = "toy/messages.txt"
WRONG_SHA = "0" * 64


def _settings(tmp_path: Path, *, allow_download: bool = True) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=allow_download)


def _place(settings: Settings, name: str = SOURCE_NAME, content: bytes = PAYLOAD) -> Path:
    path = settings.data_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------------------------
# resolve_source: local files
# --------------------------------------------------------------------------------------------


def test_resolve_finds_file_in_data_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = _place(settings)
    assert resolve_source(SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA), settings) == path


def test_resolve_rejects_wrong_checksum_naming_both_hashes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _place(settings)
    with pytest.raises(DataError) as info:
        resolve_source(SourceSpec(name=SOURCE_NAME, sha256=WRONG_SHA), settings)
    message = str(info.value)
    assert WRONG_SHA in message and PAYLOAD_SHA in message
    assert "not the original" in message


def test_missing_file_names_the_path_and_the_way_out(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(DataError) as info:
        resolve_source(SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA), settings)
    err = info.value
    assert str(settings.data_dir / SOURCE_NAME) in str(err)
    assert "GRADE_DATA_DIR" in err.hint and SOURCE_NAME in err.hint
    assert "allow download" in err.hint
    assert str(settings.data_dir / SOURCE_NAME) in err.hint


def test_download_disabled_is_a_data_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path, allow_download=False)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url="http://127.0.0.1:9/never.zip")
    with pytest.raises(DataError) as info:
        resolve_source(source, settings)
    assert "downloads are disabled" in str(info.value)
    assert "GRADE_DATA_DIR" in info.value.hint
    assert not (settings.data_dir / SOURCE_NAME).exists()


def test_non_http_url_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(PAYLOAD)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=secret.as_uri())
    with pytest.raises(DataError, match="only http"):
        resolve_source(source, settings)


# --------------------------------------------------------------------------------------------
# resolve_source: downloads from a real local HTTP server
# --------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (random port); yields (folder, base url)."""
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _zip_with(member: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme", "not the data\n")
        zf.writestr(member, content)
    return buffer.getvalue()


def test_download_extracts_member_verifies_and_places_atomically(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    served, base = http_root
    (served / "bundle.zip").write_bytes(_zip_with("messages.txt", PAYLOAD))
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/bundle.zip", archive_member="messages.txt")

    path = resolve_source(source, settings)

    assert path == settings.data_dir / SOURCE_NAME
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in path.parent.iterdir()) == ["messages.txt"]  # no temp files left
    assert resolve_source(source, settings) == path  # now found locally


def test_download_without_archive_member_keeps_the_file_as_is(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    served, base = http_root
    (served / "plain.txt").write_bytes(PAYLOAD)
    settings = _settings(tmp_path)
    path = resolve_source(SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/plain.txt"), settings)
    assert sha256_file(path) == PAYLOAD_SHA


def test_download_with_wrong_checksum_places_nothing(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    served, base = http_root
    (served / "bundle.zip").write_bytes(_zip_with("messages.txt", PAYLOAD + b"ham\ttampered\n"))
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/bundle.zip", archive_member="messages.txt")
    with pytest.raises(DataError) as info:
        resolve_source(source, settings)
    assert PAYLOAD_SHA in str(info.value) and "not the original" in str(info.value)
    folder = settings.data_dir / "toy"
    assert list(folder.iterdir()) == []


def test_download_with_missing_member_is_a_data_error(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    served, base = http_root
    (served / "bundle.zip").write_bytes(_zip_with("other.txt", PAYLOAD))
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/bundle.zip", archive_member="messages.txt")
    with pytest.raises(DataError, match="no member 'messages.txt'"):
        resolve_source(source, settings)
    assert list((settings.data_dir / "toy").iterdir()) == []


def test_download_that_is_not_a_zip_is_a_data_error(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    served, base = http_root
    (served / "bundle.zip").write_bytes(b"<html>an error page</html>")
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/bundle.zip", archive_member="messages.txt")
    with pytest.raises(DataError, match="not a readable zip"):
        resolve_source(source, settings)


def test_http_error_is_a_data_error_with_the_hint(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    _, base = http_root
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"{base}/absent.zip", archive_member="x")
    with pytest.raises(DataError) as info:
        resolve_source(source, settings)
    assert "404" in str(info.value) or "Not Found" in str(info.value)
    assert "GRADE_DATA_DIR" in info.value.hint


def test_unreachable_server_is_a_data_error_with_the_hint(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(tmp_path)
    source = SourceSpec(name=SOURCE_NAME, sha256=PAYLOAD_SHA, url=f"http://127.0.0.1:{port}/x.zip")
    with pytest.raises(DataError) as info:
        resolve_source(source, settings)
    assert str(settings.data_dir / SOURCE_NAME) in str(info.value)
    assert "GRADE_DATA_DIR" in info.value.hint and "allow download" in info.value.hint
    assert list((settings.data_dir / "toy").iterdir()) == []


# --------------------------------------------------------------------------------------------
# prepare_assignment
# --------------------------------------------------------------------------------------------

PREPARE_HOOK = """
from pathlib import Path

CALLS = Path({calls!r})


def prepare(sources, out, seed):
    with open(CALLS, "a") as fh:
        fh.write("called\\n")
    text = sources["{source}"].read_text()
    (out.inputs / "train.txt").write_text(text.upper())
    (out.inputs / "sub").mkdir()
    (out.inputs / "sub" / "features.txt").write_text("features " + str(seed))
    (out.hidden / "labels.txt").write_text("secret labels")
    (out.kit / "train.txt").write_text(text.upper())
"""

SPEC = f'''
id = "toy"
title = "Toy"
version = "1"

[data]
seed = 7

[[data.sources]]
name = "{SOURCE_NAME}"
sha256 = "{PAYLOAD_SHA}"
'''


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Assignment, Settings, Path]:
    """A tiny assignment whose prepare hook logs each call; yields (assignment, settings, log)."""
    root = tmp_path / "assignments" / "toy"
    root.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    (root / "assignment.toml").write_text(SPEC, encoding="utf-8")
    (root / "prepare.py").write_text(PREPARE_HOOK.format(calls=str(calls), source=SOURCE_NAME), encoding="utf-8")
    (root / "splits").mkdir()
    (root / "splits" / "test_ids.txt").write_text("a\nb\n", encoding="utf-8")
    settings = _settings(tmp_path)
    _place(settings)
    return load_assignment(root), settings, calls


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_prepare_runs_hook_once_and_then_uses_the_cache(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, log = toy
    first = prepare_assignment(assignment, settings)
    second = prepare_assignment(assignment, settings)
    assert _calls(log) == 1
    assert first == second
    assert first.root.parent == settings.prepared_dir / "toy"
    assert (first.inputs / "train.txt").read_text() == PAYLOAD.decode().upper()
    assert (first.inputs / "sub" / "features.txt").read_text() == "features 7"
    assert (first.root / ".complete").is_file()


def test_force_rebuilds(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, log = toy
    first = prepare_assignment(assignment, settings)
    digest = assignment_data_digest(first)
    again = prepare_assignment(assignment, settings, force=True)
    assert _calls(log) == 2
    assert again == first
    assert assignment_data_digest(again) == digest  # deterministic hook -> same manifest
    assert _leftovers(first.root.parent) == []


@pytest.mark.parametrize("change", ["prepare", "splits", "version"])
def test_cache_key_follows_its_inputs(toy: tuple[Assignment, Settings, Path], change: str) -> None:
    assignment, settings, log = toy
    first = prepare_assignment(assignment, settings)
    root = assignment.root
    if change == "prepare":
        with open(root / "prepare.py", "a", encoding="utf-8") as fh:
            fh.write("\n# edited\n")
    elif change == "splits":
        (root / "splits" / "test_ids.txt").write_text("a\n", encoding="utf-8")
    else:
        spec = (root / "assignment.toml").read_text(encoding="utf-8")
        (root / "assignment.toml").write_text(spec.replace('version = "1"', 'version = "2"'), encoding="utf-8")
    second = prepare_assignment(load_assignment(root), settings)
    assert second.root != first.root
    assert _calls(log) == 2


def test_manifest_lists_every_file_with_its_sha256(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    paths = prepare_assignment(assignment, settings)
    manifest = load_manifest(paths)
    assert manifest["assignment"] == "toy"
    assert manifest["version"] == "1"
    assert manifest["seed"] == 7
    assert manifest["key"] == paths.root.name
    assert manifest["sources"] == {SOURCE_NAME: PAYLOAD_SHA}
    assert sorted(manifest["files"]) == [
        "hidden/labels.txt",
        "inputs/sub/features.txt",
        "inputs/train.txt",
        "kit/train.txt",
    ]
    for rel, digest in manifest["files"].items():
        assert sha256_file(paths.root / rel) == digest
    assert assignment_data_digest(paths) == hashlib.sha256(paths.manifest.read_bytes()).hexdigest()
    assert verify_prepared(paths) == []
    (paths.inputs / "train.txt").write_text("tampered")
    assert verify_prepared(paths) == ["inputs/train.txt"]


def test_manifest_has_no_host_paths(toy: tuple[Assignment, Settings, Path], tmp_path: Path) -> None:
    assignment, settings, _ = toy
    paths = prepare_assignment(assignment, settings)
    assert str(tmp_path) not in paths.manifest.read_text()
    json.loads(paths.manifest.read_text())


def test_permissions_hidden_private_inputs_readable(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    paths = prepare_assignment(assignment, settings)
    assert stat.S_IMODE(paths.hidden.stat().st_mode) == 0o700
    assert stat.S_IMODE((paths.hidden / "labels.txt").stat().st_mode) & 0o077 == 0
    for public in (paths.inputs, paths.kit, paths.inputs / "sub"):
        assert stat.S_IMODE(public.stat().st_mode) == 0o755
    assert stat.S_IMODE((paths.inputs / "train.txt").stat().st_mode) == 0o644


def test_publish_is_atomic_and_leaves_no_temp_dirs(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    paths = prepare_assignment(assignment, settings)
    parent = paths.root.parent
    assert [p.name for p in parent.iterdir()] == [paths.root.name]


def test_publish_loses_a_race_gracefully(tmp_path: Path) -> None:
    final = tmp_path / "key"
    final.mkdir()
    (final / ".complete").write_text("")
    (final / "theirs").write_text("theirs")
    staging = tmp_path / ".key.building-1"
    staging.mkdir()
    (staging / ".complete").write_text("")
    assert _publish(staging, final) is False
    assert not staging.exists()
    assert (final / "theirs").exists()


def test_publish_replaces_an_incomplete_folder(tmp_path: Path) -> None:
    final = tmp_path / "key"
    final.mkdir()
    (final / "half").write_text("half")
    staging = tmp_path / ".key.building-1"
    staging.mkdir()
    (staging / ".complete").write_text("")
    assert _publish(staging, final) is True
    assert sorted(p.name for p in final.iterdir()) == [".complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


def test_concurrent_prepares_agree(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    results: list[PreparedPaths] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(prepare_assignment(assignment, settings))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.root for r in results}) == 1
    root = results[0].root
    assert (root / ".complete").is_file() and verify_prepared(results[0]) == []
    assert [p.name for p in root.parent.iterdir()] == [root.name]


def test_missing_source_stops_before_the_hook(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, log = toy
    (settings.data_dir / SOURCE_NAME).unlink()
    with pytest.raises(DataError, match="not found"):
        prepare_assignment(assignment, settings)
    assert _calls(log) == 0


def test_failing_hook_is_a_data_error_and_leaves_nothing(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    (assignment.root / "prepare.py").write_text("def prepare(sources, out, seed):\n    raise KeyError('label')\n")
    with pytest.raises(DataError, match="prepare hook failed: KeyError"):
        prepare_assignment(assignment, settings)
    assert list((settings.prepared_dir / "toy").iterdir()) == []


def test_hook_without_prepare_function(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    (assignment.root / "prepare.py").write_text("x = 1\n")
    with pytest.raises(DataError, match=r"does not define a function prepare"):
        prepare_assignment(assignment, settings)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_hook_may_not_produce_symlinks(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    (assignment.root / "prepare.py").write_text(
        "import os\ndef prepare(sources, out, seed):\n    os.symlink('/etc/passwd', out.inputs / 'leak')\n"
    )
    with pytest.raises(DataError, match="not a regular file"):
        prepare_assignment(assignment, settings)
    assert list((settings.prepared_dir / "toy").iterdir()) == []


def test_hook_may_not_write_outside_the_three_folders(toy: tuple[Assignment, Settings, Path]) -> None:
    assignment, settings, _ = toy
    (assignment.root / "prepare.py").write_text(
        "def prepare(sources, out, seed):\n    (out.root / 'stray.txt').write_text('x')\n"
    )
    with pytest.raises(DataError, match="stray.txt"):
        prepare_assignment(assignment, settings)
