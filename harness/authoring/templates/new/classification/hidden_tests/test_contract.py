"""Hidden tests of the code contract (README, "Code contract"). Never in the starter kit."""

from __future__ import annotations


def test_import_has_no_side_effects(solution, output_dir):
    written = sorted(p.name for p in output_dir.iterdir() if not p.name.startswith("holdout-"))
    assert written == [], f"importing predict.py wrote {written}"


def test_main_is_defined(solution):
    assert callable(getattr(solution, "main", None)), "predict.py must define main()"


def test_build_model_fits_the_training_table(solution, train):
    build = getattr(solution, "build_model", None)
    assert callable(build), "predict.py must define build_model()"
    X, y = train.drop(columns=["id", "label"]), train["label"]
    model = build().fit(X, y)
    predicted = [str(v) for v in model.predict(X.head(20))]
    assert len(predicted) == min(20, len(X)) and set(predicted) <= set(y)
