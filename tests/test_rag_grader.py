"""The ``rag`` grader and its ragas adapter on small hand-made question sets (fast, no Docker).

ragas is a host-side extra (``pip install 'holdout[rag]'``; ``make`` installs it): without it
these tests skip.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("ragas")

from graders import ragas_adapter
from graders.base import GradeContext
from graders.rag import RagGrader, align_answers, load_eval_set, normalise_doc_id, parse_answers
from graders.rag_answers import ANSWER_METRICS, normalise_answer
from harness.errors import GraderError
from harness.spec import AssignmentSpec

QUESTIONS = [
    {
        "id": "q1",
        "question": "What do koalas eat?",
        "answers": ["Eucalyptus leaves", "eucalyptus"],
        "reference_doc_ids": ["set1/a3"],
        "yes_no": False,
    },
    {
        "id": "q2",
        "question": "Was Volta a professor of chemistry?",
        "answers": ["No", "Volta was not a professor of chemistry."],
        "reference_doc_ids": ["set4/a10"],
        "yes_no": True,
    },
    {
        "id": "q3",
        "question": "Where is Nairobi?",
        "answers": ["In Kenya"],
        "reference_doc_ids": ["set3/a9"],
        "yes_no": False,
    },
    {
        "id": "q4",
        "question": "Who invented the battery?",
        "answers": ["Alessandro Volta"],
        "reference_doc_ids": ["set4/a10"],
        "yes_no": False,
    },
]
DOCS = ["set1/a3", "set4/a10", "set3/a9", "set2/a1"]


def jsonl(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def ctx(tmp_path) -> GradeContext:
    inputs, hidden, output = tmp_path / "inputs", tmp_path / "hidden", tmp_path / "output"
    for folder in (inputs, hidden, output):
        folder.mkdir()
    for doc in DOCS:
        (inputs / "corpus" / doc).parent.mkdir(parents=True, exist_ok=True)
        (inputs / "corpus" / f"{doc}.txt").write_text("text\n")
    (inputs / "questions.jsonl").write_text(jsonl({"id": q["id"], "question": q["question"]} for q in QUESTIONS))
    (hidden / "eval.jsonl").write_text(jsonl(QUESTIONS))
    return GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=tmp_path,
        submission_dir=tmp_path,
        inputs_dir=inputs,
        hidden_dir=hidden,
        output_dir=output,
        logs_dir=tmp_path,
    )


def write_answers(ctx: GradeContext, records) -> None:
    (ctx.output_dir / "answers.jsonl").write_text(records if isinstance(records, str) else jsonl(records))


def ctxs(*doc_ids: str) -> list[dict[str, str]]:
    return [{"doc_id": d, "text": f"passage of {d}"} for d in doc_ids]


def codes(result) -> set[str]:
    return {m.code for m in result.messages}


# --- parsing ----------------------------------------------------------------------------------


def test_parse_reports_malformed_lines_types_and_duplicates():
    data = (
        b'{"id": "q1", "answer": "a", "contexts": []}\n'
        b"{'id': 'q2', 'answer': None}\n"  # a Python repr, not JSON
        b"[1, 2]\n"
        b'{"id": 7, "answer": "x", "contexts": []}\n'
        b"\n"
        b'{"id": "q3", "answer": 42, "contexts": "set1/a1"}\n'
        b'{"id": "q1", "answer": "again", "contexts": []}\n'
        b'{"id": "q4", "answer": "b", "contexts": [{"doc_id": "set1/a1"}, {"text": "no id"}]}\n'
        b'{"id": "q5", "answer": "trunc'
    )
    rows, messages = parse_answers(data)
    by_code = {m.code: m.text for m in messages}
    assert [r.id for r in rows] == ["q1", "q3", "q4"]
    assert rows[0].answer == "a"  # the first line of a duplicated id wins
    assert rows[1].answer == "" and rows[1].contexts == ()  # wrong types: unusable, not fatal
    assert [c.doc_id for c in rows[2].contexts] == ["set1/a1"]
    assert "line 2, 3, 4, 9" in by_code["malformed_jsonl"]
    assert "'answer' is not a string" in by_code["invalid_fields"] and "line 6, 8" in by_code["invalid_fields"]
    assert "'q1'" in by_code["duplicate_ids"]


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty_file"),
        (b"\n  \n", "empty_file"),
        (b"\xff\xfe{}", "not_text"),
        (b'{"id": "q1"}\x00\n', "not_text"),
    ],
)
def test_unusable_files_are_named(data, code):
    rows, messages = parse_answers(data)
    assert rows == [] and code in {m.code for m in messages}


def test_bom_is_a_warning_only():
    rows, messages = parse_answers(b'\xef\xbb\xbf{"id": "q1", "answer": "a", "contexts": []}\n')
    assert [r.id for r in rows] == ["q1"] and {m.code for m in messages} == {"bom"}


def test_normalisation():
    assert normalise_answer("  The Eucalyptus-leaves!  ") == "eucalyptus leaves"
    assert normalise_answer("Yes.") == "yes"
    assert normalise_answer("Ｆｕｌｌ width") == "full width"
    assert normalise_doc_id("/data/corpus/set4/a10.txt") == normalise_doc_id("corpus/set4/a10") == "set4/a10"


def test_alignment_messages(ctx):
    items = load_eval_set(ctx.hidden_dir / "eval.jsonl", ctx.inputs_dir / "questions.jsonl")
    rows, _ = parse_answers(
        jsonl(
            [
                {"id": "q1", "answer": "", "contexts": ctxs("set1/a3")},
                {"id": "q2", "answer": "No", "contexts": []},
                {"id": "zz", "answer": "?", "contexts": []},
                {
                    "id": "q3",
                    "answer": " ".join(["word"] * 60),
                    "contexts": ctxs("set3/a9", "set9/a99", "x", "y", "z", "w"),
                },
            ]
        ).encode()
    )
    aligned = align_answers(
        rows, items, known_doc_ids=set(DOCS), max_contexts=5, max_answer_words=50, file="answers.jsonl", source="rag"
    )
    got = {m.code: m.text for m in aligned.messages}
    assert set(got) == {
        "unknown_ids",
        "missing_ids",
        "empty_answer",
        "empty_contexts",
        "too_many_contexts",
        "unknown_doc_ids",
        "long_answer",
    }
    assert "'zz'" in got["unknown_ids"] and "'q4'" in got["missing_ids"] and "'set9/a99'" in got["unknown_doc_ids"]
    assert "'w'" not in got["unknown_doc_ids"]  # only the first max_contexts are looked at
    assert [r.id if r else None for r in aligned.rows] == ["q1", "q2", "q3", None]


# --- scoring ----------------------------------------------------------------------------------


def test_scores_a_known_submission(ctx):
    write_answers(
        ctx,
        [
            {"id": "q1", "answer": "They eat eucalyptus leaves.", "contexts": ctxs("set1/a3", "set2/a1")},
            {"id": "q2", "answer": "No.", "contexts": ctxs("set4/a10")},
            {"id": "q3", "answer": "I know it is in Africa", "contexts": ctxs("set2/a1")},
            {"id": "q4", "answer": "alessandro volta", "contexts": ctxs("set4/a10", "set4/a10", "set3/a9")},
        ],
    )
    result = RagGrader().grade(ctx)
    m = result.measurements
    assert m["context_recall"] == pytest.approx(3 / 4)
    assert m["context_precision"] == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)  # distinct documents
    assert m["exact_match"] == pytest.approx(2 / 4)  # "No." (by polarity) and "alessandro volta" after normalisation
    # q1: 2 of 4 answer words are the reference's 2 (F1 2/3); q2: polarity "no" is right; q3: "in" only (P 1/6, R 1/2)
    assert m["answer_f1"] == pytest.approx((2 / 3 + 1 + 0.25 + 1) / 4)
    assert m["answer_containment"] == pytest.approx(
        (2 / 4 + 1 + 0 + 1) / 4
    )  # q1 contains it in 4 words; q3 names no "kenya"
    assert m["hit_at_1"] == pytest.approx(3 / 4)
    assert m["exact_match_yes_no"] == 1.0 and m["exact_match_open"] == pytest.approx(1 / 3)
    assert m["answer_f1_yes_no"] == 1.0 and m["answer_f1_open"] == pytest.approx((2 / 3 + 0.25 + 1) / 3)
    assert m["n_yes_no"] == 1.0 and m["coverage"] == 1.0 and m["valid"] == 1.0
    assert 0 < m["rouge_l"] <= 1 and 0 < m["chrf"] <= 1
    assert not result.messages
    table = {row["id"]: row for row in result.details["questions"]}
    assert table["q3"]["hit"] is False and table["q1"]["hit"] is True
    assert table["q3"]["answer"] == "I know it is in Africa" and table["q1"]["retrieved_doc_ids"] == [
        "set1/a3",
        "set2/a1",
    ]
    assert (
        table["q2"]["scored_by"] == "polarity"
        and table["q2"]["polarity"] == "no"
        and table["q1"]["scored_by"] == "tokens"
    )
    assert table["q1"]["answer_f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert len(result.details["table"]["rows"]) == 4 and result.details["slices"]["yes_no"]["questions"] == 1


def test_empty_retrieval_counts_as_zero_not_missing(ctx):
    """ragas returns NaN precision for an empty retrieval and its mean drops NaN; ours does not."""
    write_answers(
        ctx,
        [
            {"id": "q1", "answer": "eucalyptus", "contexts": ctxs("set1/a3")},
            {"id": "q2", "answer": "no", "contexts": []},
            {"id": "q3", "answer": "kenya", "contexts": []},
            {"id": "q4", "answer": "volta", "contexts": []},
        ],
    )
    result = RagGrader().grade(ctx)
    assert result.measurements["context_precision"] == pytest.approx(0.25)  # nanmean would say 1.0
    assert result.details["nan_counted_as_zero"]["context_precision"] == 3
    assert "empty_contexts" in codes(result)


def test_containment_reads_only_the_first_words(ctx):
    padding = " ".join(["filler"] * 60)
    write_answers(
        ctx,
        [
            {"id": "q1", "answer": f"eucalyptus {padding}", "contexts": ctxs("set1/a3")},
            {"id": "q3", "answer": f"{padding} in Kenya", "contexts": ctxs("set3/a9")},
        ],
    )
    result = RagGrader().grade(ctx)
    table = {row["id"]: row for row in result.details["questions"]}
    assert table["q1"]["answer_containment"] == pytest.approx(1 / 50)  # contained, in 50 scored words
    assert table["q3"]["answer_containment"] == 0.0 and table["q3"]["answer_f1"] == 0.0
    assert {"long_answer", "missing_ids"} <= codes(result)


def test_missing_or_linked_output_scores_zero_with_a_message(ctx, tmp_path):
    result = RagGrader().grade(ctx)
    assert "missing_output" in codes(result)
    assert result.measurements["context_recall"] == 0.0 and result.measurements["valid"] == 0.0
    secret = tmp_path / "secret.jsonl"
    secret.write_text(jsonl([{"id": "q1", "answer": "eucalyptus", "contexts": ctxs("set1/a3")}]))
    (ctx.output_dir / "answers.jsonl").symlink_to(secret)
    result = RagGrader().grade(ctx)
    assert "not_regular_file" in codes(result) and result.measurements["answer_containment"] == 0.0


def test_all_lines_malformed(ctx):
    write_answers(ctx, "{'id': 'q1'}\n{'id': 'q2'}\n")
    result = RagGrader().grade(ctx)
    assert {"malformed_jsonl", "no_valid_rows"} <= codes(result)
    assert all(result.measurements[k] == 0.0 for k in (*ragas_adapter.OFFLINE_METRICS, *ANSWER_METRICS))


def test_broken_hidden_data_is_a_grader_error(ctx):
    (ctx.hidden_dir / "eval.jsonl").write_text(jsonl(QUESTIONS[:2]))
    with pytest.raises(GraderError, match="same question ids"):
        RagGrader().grade(ctx)


def test_semantic_similarity_with_an_embedding_model(ctx):
    class BagOfLetters:
        """A stand-in embedding model (ragas' modern interface)."""

        async def aembed_text(self, text: str, **kwargs):
            return [text.lower().count(c) + 0.01 for c in "abcdefghijklmnopqrstuvwxyz"]

    items = load_eval_set(ctx.hidden_dir / "eval.jsonl", None)
    rows, _ = parse_answers(
        jsonl(
            [{"id": "q1", "answer": "eucalyptus", "contexts": []}, {"id": "q2", "answer": "", "contexts": []}]
        ).encode()
    )
    by_id = {r.id: r for r in rows}
    values = RagGrader.semantic_with(BagOfLetters(), items, [by_id.get(i.id) for i in items])
    assert values[0] == pytest.approx(1.0, abs=1e-6)  # identical to the reference "eucalyptus"
    assert values[1:] == [0.0, 0.0, 0.0]  # empty or missing answers


def test_semantic_similarity_skipped_without_a_model(ctx, monkeypatch, tmp_path):
    monkeypatch.setenv("GRADE_EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    write_answers(ctx, [{"id": "q1", "answer": "eucalyptus", "contexts": ctxs("set1/a3")}])
    result = RagGrader().grade(ctx)
    assert "semantic_similarity_skipped" in codes(result) and "semantic_similarity" not in result.measurements


# --- the adapter ------------------------------------------------------------------------------


def test_adapter_forces_do_not_track():
    os.environ["RAGAS_DO_NOT_TRACK"] = "false"
    try:
        ragas_adapter._quiet_environment()
        assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    finally:
        os.environ["RAGAS_DO_NOT_TRACK"] = "true"


def test_nan_to_zero():
    assert ragas_adapter.nan_to_zero(float("nan")) == (0.0, True)
    assert ragas_adapter.nan_to_zero(None) == (0.0, True)
    assert ragas_adapter.nan_to_zero(0.25) == (0.25, False)


def test_missing_ragas_gives_an_install_hint(monkeypatch):
    ragas_adapter.load_ragas.cache_clear()
    monkeypatch.setitem(sys.modules, "ragas", None)  # makes `import ragas` fail
    try:
        with pytest.raises(ragas_adapter.RagasUnavailable) as err:
            ragas_adapter.load_ragas()
        assert "pip install 'holdout[rag]'" in err.value.hint
    finally:
        ragas_adapter.load_ragas.cache_clear()


def test_only_the_adapter_imports_ragas():
    graders = Path(ragas_adapter.__file__).parent
    imports_ragas = re.compile(r"^\s*(import ragas\b(?!_)|from ragas[\s.])", re.MULTILINE)
    offenders = [
        p.name for p in graders.glob("*.py") if p.name != "ragas_adapter.py" and imports_ragas.search(p.read_text())
    ]
    assert offenders == []


def test_containment_is_whole_words_and_exact_match_is_normalised(ctx):
    write_answers(
        ctx,
        [
            {"id": "q1", "answer": "The eucalyptus leaves!", "contexts": ctxs("set1/a3")},
            {"id": "q2", "answer": "I know", "contexts": ctxs("set4/a10")},  # contains "no" only inside "know"
        ],
    )
    table = {row["id"]: row for row in RagGrader().grade(ctx).details["questions"]}
    assert table["q1"]["exact_match"] is True and table["q1"]["answer_containment"] == 1.0
    assert (
        table["q2"]["answer_containment"] == 0.0
        and table["q2"]["exact_match"] is False
        and table["q2"]["polarity"] == "neither"
    )


def test_millions_of_tiny_lines_stop_at_the_line_cap():
    from graders.rag import parse_answers

    data = b'{"id": "x"}\n' * 50_000
    rows, messages = parse_answers(data, max_lines=1_000)
    assert len(rows) == 1
    assert "too_many_rows" in {m.code for m in messages}
