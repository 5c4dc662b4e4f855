"""The benchmark's synthetic spam assignment and its submissions, generated into a folder.

    python bench/synthetic.py OUT_DIR [--submissions 12]

Writes::

    OUT_DIR/assignments/spam_synth/   assignment.toml + prepare.py (copied from bench/spam_synth/),
                                      canaries/reference/ (the reference notebook)
    OUT_DIR/submissions/<NN_name>/    solution.ipynb + submission.toml, one folder per variant

The data is not written here: ``prepare.py`` generates it from the spec's seed when the harness
prepares the assignment (``GRADE_ASSIGNMENTS_PATH=OUT_DIR/assignments``). Every notebook reads
``$DATA_DIR`` and writes ``$OUTPUT_DIR/predictions.csv`` (defaults ``data`` and ``output``, so the
same file runs on the host for the baselines). Nothing here depends on time or randomness: the
same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TEMPLATE = Path(__file__).resolve().parent / "spam_synth"
ASSIGNMENT_ID = "spam_synth"
NOTEBOOK = "solution.ipynb"

IMPORTS = """\
import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline, make_union

DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "output"))"""

READ = """\
train = pd.read_csv(DATA_DIR / "train.csv", dtype=str, keep_default_na=False)
test = pd.read_csv(DATA_DIR / "test.csv", dtype=str, keep_default_na=False)
y = (train[{label!r}] == "spam").astype(int)
print(f"train: {{len(train)}} rows, {{y.mean():.1%}} spam; test: {{len(test)}} rows")"""

MODEL = """\
features = {features}
model = make_pipeline(features, LogisticRegression(C={C!r}, solver="liblinear", class_weight={class_weight!r}))
folds = StratifiedKFold(n_splits={folds}, shuffle=True, random_state=0)
cv_f1 = cross_val_score(model, train["text"], y, cv=folds, scoring="f1")
print(f"{folds}-fold CV F1: {{cv_f1.mean():.3f}} +/- {{cv_f1.std():.3f}}")"""

PREDICT = """\
model.fit(train["text"], y)
probability = model.predict_proba(test["text"])[:, 1]
predictions = pd.DataFrame({
    "id": test["id"],
    "label": ["spam" if p >= 0.5 else "ham" for p in probability],
    "spam_probability": probability.round(6),
})
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
predictions.to_csv(OUTPUT_DIR / "predictions.csv", index=False)
print(f"wrote {len(predictions)} predictions ({(predictions['label'] == 'spam').sum()} spam)")"""

KEYWORDS = """\
KEYWORDS = ("free", "win", "prize", "cash")
is_spam = test["text"].str.lower().str.contains("|".join(KEYWORDS))
predictions = pd.DataFrame({"id": test["id"], "label": ["spam" if s else "ham" for s in is_spam]})
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
predictions.to_csv(OUTPUT_DIR / "predictions.csv", index=False)
print(f"wrote {len(predictions)} keyword-rule predictions")"""

WORD = 'TfidfVectorizer(analyzer="word", ngram_range={ngrams!r}, sublinear_tf=True)'
CHAR = 'TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)'


@dataclass(frozen=True)
class Variant:
    """One submission: the reference notebook with a few knobs turned."""

    name: str
    C: float = 10.0
    ngrams: tuple[int, int] = (1, 2)
    chars: bool = False
    """Add character 2-4-grams (about twice the work: the "slow" submission)."""
    folds: int = 3
    class_weight: str | None = None
    keyword_rule: bool = False
    """No model at all: a keyword rule (the weak submission)."""
    label_column: str = "label"
    """A wrong column name makes the notebook crash in its second cell."""


VARIANTS: tuple[Variant, ...] = (
    Variant("reference"),
    Variant("c_0.3", C=0.3),
    Variant("c_1", C=1.0),
    Variant("c_3", C=3.0),
    Variant("c_30", C=30.0),
    Variant("c_100", C=100.0),
    Variant("unigrams", ngrams=(1, 1)),
    Variant("balanced", class_weight="balanced"),
    Variant("weak", keyword_rule=True),
    Variant("crashes", label_column="is_spam"),
    Variant("trigrams", ngrams=(1, 3)),
    Variant("slow", chars=True),
)


def notebook_for(variant: Variant) -> nbformat.NotebookNode:
    """The variant's notebook, unexecuted, with stable cell ids."""
    features = (
        f"make_union({WORD.format(ngrams=variant.ngrams)}, {CHAR})"
        if variant.chars
        else WORD.format(ngrams=variant.ngrams)
    )
    cells = [
        new_markdown_cell(
            f"# Spam classifier ({variant.name})\n\nTF-IDF features and a logistic regression; "
            "inputs from `$DATA_DIR`, predictions to `$OUTPUT_DIR/predictions.csv`."
        ),
        new_code_cell(IMPORTS),
        new_code_cell(READ.format(label=variant.label_column)),
    ]
    if variant.keyword_rule:
        cells.append(new_code_cell(KEYWORDS))
    else:
        cells.append(
            new_code_cell(
                MODEL.format(features=features, C=variant.C, class_weight=variant.class_weight, folds=variant.folds)
            )
        )
        cells.append(new_code_cell(PREDICT))
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_submission(folder: Path, variant: Variant) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook_for(variant), folder / NOTEBOOK)
    (folder / "submission.toml").write_text(f'assignment = "{ASSIGNMENT_ID}"\n', encoding="utf-8")
    return folder


@dataclass(frozen=True)
class SyntheticSetup:
    root: Path
    assignments: Path
    """Put this on ``GRADE_ASSIGNMENTS_PATH``."""
    assignment: Path
    submissions: list[Path]
    reference: Path


def generate(root: Path, n_submissions: int = 12) -> SyntheticSetup:
    """Write the assignment and the first ``n_submissions`` variants (cycling if more) under ``root``."""
    root = Path(root)
    assignment = root / "assignments" / ASSIGNMENT_ID
    if assignment.exists():
        shutil.rmtree(assignment)
    assignment.mkdir(parents=True)
    for name in ("assignment.toml", "prepare.py"):
        shutil.copyfile(TEMPLATE / name, assignment / name)
    reference = write_submission(assignment / "canaries" / "reference", VARIANTS[0])
    subs_dir = root / "submissions"
    if subs_dir.exists():
        shutil.rmtree(subs_dir)
    submissions = []
    for i in range(n_submissions):
        variant = VARIANTS[i % len(VARIANTS)]
        submissions.append(write_submission(subs_dir / f"{i:02d}_{variant.name}", variant))
    return SyntheticSetup(
        root=root, assignments=root / "assignments", assignment=assignment, submissions=submissions, reference=reference
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--submissions", type=int, default=12)
    args = parser.parse_args()
    setup = generate(args.out_dir, args.submissions)
    print(f"assignment: {setup.assignment}")
    print(f"submissions: {len(setup.submissions)} in {setup.root / 'submissions'}")
    print(f"export GRADE_ASSIGNMENTS_PATH={setup.assignments}")


if __name__ == "__main__":
    main()
