"""Reference solution for the applied_ml assignment: TF-IDF n-grams + logistic regression.

Reads /data/train.csv and /data/test.csv (or $DATA_DIR), writes /output/predictions.csv
(or $OUTPUT_DIR) with columns id,label,spam_probability.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline, make_union

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def read(name: str) -> pd.DataFrame:
    # keep_default_na=False: a message such as "NA" must stay text, not become NaN.
    return pd.read_csv(DATA_DIR / name, dtype=str, keep_default_na=False)


def build_model():
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    return make_pipeline(features, LogisticRegression(C=10.0, solver="liblinear"))


def main() -> None:
    train, test = read("train.csv"), read("test.csv")
    y = (train["label"] == "spam").astype(int)
    model = build_model()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cv_f1 = cross_val_score(model, train["text"], y, cv=folds, scoring="f1")
    print(f"5-fold CV F1 on train: {cv_f1.mean():.3f} +/- {cv_f1.std():.3f}")

    model.fit(train["text"], y)
    probability = model.predict_proba(test["text"])[:, 1]
    predictions = pd.DataFrame({
        "id": test["id"],
        "label": ["spam" if p >= 0.5 else "ham" for p in probability],
        "spam_probability": probability.round(6),
    })
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(OUTPUT_DIR / "predictions.csv", index=False)
    print(f"wrote {len(predictions)} predictions ({(predictions['label'] == 'spam').sum()} spam)")


if __name__ == "__main__":
    main()
