"""The secret scan of the quality grader: correct line numbers, linear work, bounded findings
and bytes (a flood of key-like lines once took minutes: line numbers were recounted from the
start of the file for every match)."""

from __future__ import annotations

from pathlib import Path

from graders import habits
from graders.files import list_files
from graders.habits import MAX_SECRET_HITS_PER_FILE, find_secrets, secrets_signal


def _key(i: int) -> str:
    return f"AKIA{i:016d}".replace("0", "Q")


def test_line_numbers_are_those_of_each_match():
    lines = ["x = 1"] * 5000
    for n in (7, 4000, 4999):
        lines[n - 1] = f"aws = '{_key(n)}'"
    lines[2999] = 'password = "hunter2hunter2x9"'
    text = "\n".join(lines)
    assert find_secrets(text) == [
        (7, "AWS access key"),
        (3000, "hard-coded credential"),
        (4000, "AWS access key"),
        (4999, "AWS access key"),
    ]


def test_a_flood_of_keys_stops_at_the_limit():
    text = "".join(f"key = {_key(i)}\n" for i in range(100_000))
    found = find_secrets(text, limit=MAX_SECRET_HITS_PER_FILE)
    assert found == [(n, "AWS access key") for n in range(1, MAX_SECRET_HITS_PER_FILE + 1)]


def _flood(root: Path, files: int, lines: int) -> list:
    root.mkdir()
    for n in range(files):
        (root / f"keys{n}.txt").write_text("".join(f"key = {_key(i)}\n" for i in range(lines)))
    return list_files(root)


def test_signal_says_how_many_at_least_and_names_the_first(tmp_path):
    files = _flood(tmp_path / "sub", 8, 2000)
    signal = secrets_signal(tmp_path / "sub", files)
    assert signal.value == 0.0
    headline = signal.evidence[0]
    assert headline.startswith(f"{habits.MAX_SECRET_HITS} or more possible secret(s)"), headline
    assert "keys0.txt line 1: possible AWS access key" in headline


def test_scan_stops_after_its_byte_budget(tmp_path):
    root = tmp_path / "sub"
    root.mkdir()
    for n in range(4):
        (root / f"notes{n}.txt").write_text("nothing to see here\n" * 5000)  # ~100 KB each
    (root / "zz_last.txt").write_text(f"key = {_key(1)}\n")
    files = list_files(root)
    assert secrets_signal(root, files).value == 0.0  # found with the default budget
    bounded = secrets_signal(root, files, max_total_bytes=250_000)
    assert bounded.value == 1.0 and "scan stopped after" in bounded.evidence[0]
