"""Output limits are stated and graceful (issue 15, item 4): `grade check` fails when the
candidate README leaves a limit out, and the streaming reader gives the complete lines of an
over-limit file, skipping over-long lines, instead of rejecting the file whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graders.outputs import OutputError, OutputLines
from graders.rag import parse_answers
from harness.authoring.check import static_problems
from harness.spec import load_assignment

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("name", "phrase", "what"),
    [
        ("genai_rag", "10,000 characters", "longest context text"),
        ("genai_rag", "16 MiB", "longest line of answers.jsonl"),
        ("applied_ml", "64 MiB", "largest predictions.csv read"),
        ("applied_ml", "512 MiB", "scratch space in /tmp"),
    ],
)
def test_a_limit_missing_from_the_readme_fails_the_check(tmp_path, name, phrase, what):
    root = tmp_path / name
    shutil.copytree(REPO / "assignments" / name, root, ignore=shutil.ignore_patterns("splits"))
    assert static_problems(load_assignment(root)) == []
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(f"**{phrase}**", "a fair amount"))
    problems = static_problems(load_assignment(root))
    assert (
        f"README.md does not state the limit on the {what} ({phrase!r}); say it where the output is described"
        in problems
    )


def _lines(tmp_path: Path, data: bytes, **limits) -> tuple[list[tuple[int, bytes]], OutputLines]:
    (tmp_path / "out.jsonl").write_bytes(data)
    with OutputLines(tmp_path, "out.jsonl", **limits) as reader:
        return list(reader), reader


def test_complete_lines_up_to_the_cap(tmp_path):
    data = b"".join(b"line %03d\n" % i for i in range(100))  # 9 bytes a line
    lines, reader = _lines(tmp_path, data, max_bytes=50, max_line_bytes=100)
    assert lines == [(i + 1, b"line %03d" % i) for i in range(5)]  # the sixth is cut at byte 50: dropped
    assert reader.truncated and reader.size == 900 and reader.read_bytes == 50
    lines, reader = _lines(tmp_path, data, max_bytes=900, max_line_bytes=100)  # exactly the cap: all of it
    assert len(lines) == 100 and not reader.truncated
    lines, reader = _lines(tmp_path, b"a\nb", max_bytes=100, max_line_bytes=100)  # no final newline
    assert lines == [(1, b"a"), (2, b"b")] and not reader.truncated


def test_over_long_lines_are_skipped_and_counted(tmp_path):
    long = b"x" * 5000
    data = b"short\n" + long + b"\nafter\n" + long
    lines, reader = _lines(tmp_path, data, max_bytes=1 << 20, max_line_bytes=100)
    assert lines == [(1, b"short"), (3, b"after")]
    assert reader.long_lines == [2, 4]


def test_a_missing_or_linked_file_is_still_an_output_error(tmp_path):
    with pytest.raises(OutputError) as err:
        OutputLines(tmp_path, "none.jsonl", max_bytes=10, max_line_bytes=10)
    assert err.value.code == "missing"
    (tmp_path / "real").write_text("x\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real")
    with pytest.raises(OutputError) as err:
        OutputLines(tmp_path, "link.jsonl", max_bytes=10, max_line_bytes=10)
    assert err.value.code == "symlink"


def test_contexts_are_cut_to_the_limit_and_counted_beyond_those_kept():
    many = ", ".join(f'{{"doc_id": "set1/a{i % 9 + 1}", "text": "t"}}' for i in range(150))
    data = (
        b'{"id": "q1", "answer": "a", "contexts": [{"doc_id": "set1/a1", "text": "'
        + b"w " * 3000
        + b'"}]}\n'
        + f'{{"id": "q2", "answer": "b", "contexts": [{many}]}}\n'.encode()
    )
    rows, messages = parse_answers(data, max_context_chars=1000)
    assert len(rows[0].contexts[0].text) == 1000
    assert len(rows[1].contexts) == 100 and rows[1].listed == 150  # kept 100, counted 150
    cut = next(m for m in messages if m.code == "long_contexts")
    assert "1 context(s) in answers.jsonl are longer than 1,000 characters, the limit per context" in cut.text
    rows, messages = parse_answers(data)  # no limit: nothing cut
    assert len(rows[0].contexts[0].text) == 6000 and "long_contexts" not in {m.code for m in messages}
