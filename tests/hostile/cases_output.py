"""Output intake: what the candidate's code leaves in /output is read on the host as data only
(no links followed, regular files only, size-capped, strict CSV parsing, a line cap), and
every defect becomes a message. Each case is a tiny predict.py run in the real sandbox."""

from __future__ import annotations

from harness.models import Verdict

from .builders import MANIFEST, script, write_tree
from .catalogue import Case, Env, Expect


def _sub(env: Env, body: str, header: str = ""):
    return write_tree(env.tmp / "submission", {"predict.py": script(body, header=header), "submission.toml": MANIFEST})


def _write(rows_expr: str, header: str = "id,label", newline: str = "\n", prefix: str = "") -> str:
    """A main() body writing ``header`` and one line per ``rows_expr`` (an expression over i, n)."""
    return f"""
        ids = test_ids()
        n = len(ids)
        lines = [{header!r}] + [{rows_expr} for n_i, (i) in enumerate(ids)]
        with open(OUT / "predictions.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write({prefix!r} + {newline!r}.join(lines) + {newline!r})
    """


def _scored(outcome, env: Env) -> None:
    assert outcome.report is not None and outcome.report.metrics.get("f1") is not None, "the file was not scored"


def _crlf_is_fine(outcome, env: Env) -> None:
    _scored(outcome, env)
    bad = outcome.codes & {"malformed_csv", "ragged_rows", "not_text", "unknown_ids", "missing_ids"}
    assert not bad, bad
    assert outcome.report.metrics.get("coverage") == 1.0


def _one_gigabyte(outcome, env: Env) -> None:
    run = outcome.report.sandbox
    assert "File too large" in run.stdout.text, run.stdout.text[-500:]
    assert outcome.rss_growth_mb < 150, f"the harness grew by {outcome.rss_growth_mb:.0f} MB reading a huge output"
    assert outcome.report.metrics.get("f1") in (None, 0.0)


def _many_rows(outcome, env: Env) -> None:
    _scored(outcome, env)
    assert outcome.rss_growth_mb < 300, f"the harness grew by {outcome.rss_growth_mb:.0f} MB parsing millions of rows"
    scoring = next(g for g in outcome.report.graders if g.grader == "predictions")
    assert scoring.duration_s < 20, f"parsing took {scoring.duration_s:.0f} s"


CASES = [
    Case(
        "output_too_few_rows",
        "output",
        "predictions for only half of the test ids",
        lambda env: _sub(env, _write('f"{i},ham"').replace("enumerate(ids)", "enumerate(ids[: len(ids) // 2])")),
        Expect(verdict=Verdict.OK, messages=("missing_ids",), max_score=30, check=_scored),
    ),
    Case(
        "output_nan_values",
        "output",
        "labels 'nan', 'NaN', '' and 'null' in some rows",
        lambda env: _sub(env, _write("f\"{i},{['nan', 'NaN', '', 'null', 'ham'][n_i % 5]}\"")),
        Expect(verdict=Verdict.OK, messages=("nan_values",), max_score=30, check=_scored),
    ),
    Case(
        "output_duplicate_ids",
        "output",
        "every id twice, with contradicting labels",
        lambda env: _sub(env, _write('f"{i},ham\\n{i},spam"')),
        Expect(verdict=Verdict.OK, messages=("duplicate_ids",), max_score=30, check=_scored),
    ),
    Case(
        "output_wrong_ids",
        "output",
        "made-up ids, some with markup and quotes in them",
        lambda env: _sub(env, _write('f"{i}x,ham" if n_i % 3 else f"\\"<b>{i}</b>\\",ham"')),
        Expect(verdict=Verdict.OK, messages=("unknown_ids", "missing_ids"), max_score=30),
    ),
    Case(
        "output_extra_columns",
        "output",
        "extra columns, one of them named like a label column",
        lambda env: _sub(env, _write('f"{i},ham,spam,{n_i}"', header="id,label,true_label,row")),
        Expect(verdict=Verdict.OK, messages=("extra_columns",), check=_scored),
    ),
    Case(
        "output_binary_junk",
        "output",
        "64 KiB of random bytes as predictions.csv",
        lambda env: _sub(env, 'open(OUT / "predictions.csv", "wb").write(os.urandom(65536))'),
        Expect(verdict=Verdict.OK, messages=("not_text",), max_score=30),
    ),
    Case(
        "output_nul_bytes",
        "output",
        "a CSV with NUL bytes in it",
        lambda env: _sub(env, _write('f"{i},ham\\0"')),
        Expect(verdict=Verdict.OK, messages=("not_text",), max_score=30),
    ),
    Case(
        "output_utf8_bom",
        "output",
        "a UTF-8 byte-order mark before the header",
        lambda env: _sub(env, _write('f"{i},ham"', prefix="\ufeff")),
        Expect(verdict=Verdict.OK, messages=("bom",), check=_scored),
    ),
    Case(
        "output_crlf_line_endings",
        "output",
        "Windows line endings (accepted: not a defect)",
        lambda env: _sub(env, _write('f"{i},ham"', newline="\r\n")),
        Expect(verdict=Verdict.OK, check=_crlf_is_fine, note="scored like LF, no message"),
    ),
    Case(
        "output_malformed_csv",
        "output",
        "an unterminated quote half way through",
        lambda env: _sub(env, _write('f"{i},ham" if n_i != 10 else f"{i},\\"ham"')),
        Expect(verdict=Verdict.OK, messages=("malformed_csv",), max_score=30),
    ),
    Case(
        "output_invalid_labels",
        "output",
        "labels 'SPAM', '1' and '<script>'",
        lambda env: _sub(env, _write("f\"{i},{['SPAM', '1', '<script>'][n_i % 3]}\"")),
        Expect(verdict=Verdict.OK, messages=("invalid_labels",), max_score=30),
    ),
    Case(
        "output_bad_probabilities",
        "output",
        "spam_probability 'nan', 'inf', '2.5' and '-1'",
        lambda env: _sub(
            env, _write("f\"{i},ham,{['nan', 'inf', '2.5', '-1'][n_i % 4]}\"", header="id,label,spam_probability")
        ),
        Expect(verdict=Verdict.OK, messages=("invalid_probabilities",), check=_scored),
    ),
    Case(
        "output_missing_header",
        "output",
        "rows without a header line",
        lambda env: _sub(env, _write('f"{i},ham"', header="m0000000000,ham")),
        Expect(verdict=Verdict.OK, messages=("missing_header",), max_score=30),
    ),
    Case(
        "output_empty_file",
        "output",
        "an empty predictions.csv",
        lambda env: _sub(env, 'open(OUT / "predictions.csv", "w").close()'),
        Expect(verdict=Verdict.OK, messages=("empty_file",), max_score=30),
    ),
    Case(
        "output_one_huge_field",
        "output",
        "one 32 MB CSV field (over the csv module's field limit)",
        lambda env: _sub(
            env, 'open(OUT / "predictions.csv", "w").write("id,label\\n" + "x" * (32 * 2**20) + ",ham\\n")'
        ),
        Expect(verdict=Verdict.OK, messages=("malformed_csv",), max_score=30),
    ),
    Case(
        "output_millions_of_rows",
        "output",
        "the right rows followed by 12 million tiny junk rows (60 MB)",
        lambda env: _sub(
            env,
            """
             ids = test_ids()
             with open(OUT / "predictions.csv", "w") as fh:
                 fh.write("id,label\\n" + "".join(f"{i},ham\\n" for i in ids))
                 for _ in range(12):
                     fh.write("z,h\\n" * 1_000_000)
         """,
        ),
        Expect(verdict=Verdict.OK, messages=("too_many_rows",), check=_many_rows),
    ),
    Case(
        "output_one_gigabyte",
        "output",
        "tries to write a 1 GB predictions.csv",
        lambda env: _sub(
            env,
            """
             chunk = ("m0,ham\\n" * (2**20 // 7)).encode()
             try:
                 with open(OUT / "predictions.csv", "wb") as fh:
                     fh.write(b"id,label\\n")
                     for _ in range(1024):
                         fh.write(chunk)
             except OSError as exc:
                 print("stopped:", exc.strerror)
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            messages=("output_truncated",),
            check=_one_gigabyte,
            note="stopped at the fsize ulimit (256 MB); the host reads the complete rows of the first 64 MB",
        ),
    ),
    Case(
        "output_symlink_to_hidden_labels",
        "output",
        "predictions.csv is a symlink to the hidden labels on the host",
        lambda env: _sub(env, f'os.symlink({str(env.hidden_labels)!r}, OUT / "predictions.csv")'),
        Expect(verdict=Verdict.INVALID_OUTPUT, messages=("not_regular_file",), max_score=30),
    ),
    Case(
        "output_fifo",
        "output",
        "predictions.csv is a fifo (a reader would block forever)",
        lambda env: _sub(env, 'os.mkfifo(OUT / "predictions.csv")'),
        Expect(verdict=Verdict.INVALID_OUTPUT, messages=("not_regular_file",), max_score=30),
    ),
    Case(
        "output_is_a_directory",
        "output",
        "predictions.csv is a folder",
        lambda env: _sub(env, 'os.mkdir(OUT / "predictions.csv")'),
        Expect(verdict=Verdict.INVALID_OUTPUT, messages=("not_regular_file",), max_score=30),
    ),
]
