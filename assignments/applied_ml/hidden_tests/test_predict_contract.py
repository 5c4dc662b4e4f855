"""Hidden tests for the applied_ml code contract (see the candidate README, "Code contract").

Never shipped in a starter kit. Run by the ``pytest`` grader inside the sandbox against the
candidate's ``predict.py``, which lives in a process of its own: ``predict_module`` and the
objects it returns are handles, their answers data (docs/authoring.md). Points per group are
set in ``assignment.toml``.
"""

from __future__ import annotations

import pytest

LABELS = {"ham", "spam"}
AWKWARD = ["", "NA", "   ", "WINNER!! Claim your £1000 prize: call 09061701461 now", "ok 😀 see you at 7?"]


# --- group "importable" -------------------------------------------------------------------------


def test_import_has_no_side_effects(predict_module, output_dir):
    written = sorted(p.name for p in output_dir.iterdir() if not p.name.startswith("holdout-"))
    assert written == [], f"importing predict.py wrote {written}: guard the work with `if __name__ == '__main__':`"


def test_main_is_defined(predict_module):
    assert callable(getattr(predict_module, "main", None)), "predict.py must define main()"


# --- group "model" ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(predict_module, train_rows):
    build = getattr(predict_module, "build_model", None)
    assert callable(build), "predict.py must define build_model()"
    rows = train_rows[:1000]
    model = build()
    model.fit([r["text"] for r in rows], [r["label"] for r in rows])
    return model


def test_build_model_returns_an_unfitted_estimator(candidate, predict_module):
    build = getattr(predict_module, "build_model", None)
    assert callable(build), "predict.py must define build_model()"
    facts = candidate.facts(build())
    assert facts["has_fit"] and facts["has_predict"], f"build_model() returned a {facts['type']}"
    # a scikit-learn compatible estimator (get_params/set_params), as its own side's clone() says
    assert facts["clone_ok"], f"sklearn.base.clone() refused it: {facts['clone_error']}"


def test_model_learns_spam_from_raw_texts(fitted, train_rows):
    held_out = train_rows[1000:1600]
    predicted = [str(p) for p in fitted.predict([r["text"] for r in held_out])]
    assert len(predicted) == len(held_out) and set(predicted) <= LABELS
    truth = [r["label"] for r in held_out]
    tp = sum(p == t == "spam" for p, t in zip(predicted, truth))
    fp = sum(p == "spam" != t for p, t in zip(predicted, truth))
    fn = sum(t == "spam" != p for p, t in zip(predicted, truth))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    assert f1 >= 0.7, f"F1 on spam {f1:.2f} after training on 1000 messages"


def test_model_handles_awkward_texts(fitted):
    predicted = [str(p) for p in fitted.predict(AWKWARD)]
    assert len(predicted) == len(AWKWARD) and set(predicted) <= LABELS
