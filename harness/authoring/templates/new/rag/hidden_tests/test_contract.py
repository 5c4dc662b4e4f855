"""Hidden tests of the code contract (README, "Code contract"). Never in the starter kit."""

from __future__ import annotations


def test_import_has_no_side_effects(solution, output_dir):
    written = sorted(p.name for p in output_dir.iterdir() if not p.name.startswith("holdout-"))
    assert written == [], f"importing rag.py wrote {written}"


def test_main_is_defined(solution):
    assert callable(getattr(solution, "main", None)), "rag.py must define main()"


def test_retrieve_returns_contexts_from_the_corpus(solution, questions, doc_ids):
    retrieve = getattr(solution, "retrieve", None)
    assert callable(retrieve), "rag.py must define retrieve(question, k)"
    contexts = retrieve(questions[0]["question"], 3)
    assert 1 <= len(contexts) <= 3
    for context in contexts:
        assert context["doc_id"] in doc_ids and isinstance(context["text"], str) and context["text"].strip()


def test_retrieve_copes_with_an_empty_question(solution):
    retrieve = getattr(solution, "retrieve", None)
    assert callable(retrieve), "rag.py must define retrieve(question, k)"
    assert len(retrieve("", 2)) <= 2
