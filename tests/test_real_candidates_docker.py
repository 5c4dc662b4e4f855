"""Real candidates' ways of working, end to end in real Docker on the real applied_ml data.

Stand-ins of the shapes real hand-ins take (written here, not fetched): the NLTK spam-tutorial
classifier (stopwords + Porter stemmer, ``nltk`` unpinned in requirements.txt, so the version
an unpinned install gets today) with its stopwords shipped under ``nltk_data/`` and without; a
script that saves ``models/model.pkl`` relative to its working directory; an entry in
``src/run.py`` named in ``submission.toml``; a notebook in a subfolder that reads and writes
beside itself.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.api import grade
from harness.pipeline import GradeOptions
from harness.settings import Settings

pytestmark = pytest.mark.docker
ASSIGNMENT = Path(__file__).resolve().parent.parent / "assignments" / "applied_ml"

# A stop-word list of our own (NLTK's English list is longer; any list works for the test).
STOPWORDS = """i me my myself we our ours you your yours he him his she her hers it its they them their
what which who whom this that these those am is are was were be been being have has had having do does
did doing a an the and but if or because as until while of at by for with about against between into
through during before after above below to from up down in out on off over under again further then once
here there when where why how all any both each few more most other some such no nor not only own same so
than too very s t can will just don should now""".split()

NLTK_CLASSIFIER = '''
"""SMS spam: the classic tutorial pipeline (NLTK stop words and stemmer, bag of words, naive Bayes)."""
import os
import re

import nltk
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

nltk.download("stopwords")
from nltk.corpus import stopwords  # noqa: E402
from nltk.stem.porter import PorterStemmer  # noqa: E402

STOP = set(stopwords.words("english"))
STEMMER = PorterStemmer()


def clean(text):
    words = re.findall(r"[a-z0-9£$]+", text.lower())
    return " ".join(STEMMER.stem(w) for w in words if w not in STOP)


def main():
    data, out = os.environ["DATA_DIR"], os.environ["OUTPUT_DIR"]
    train = pd.read_csv(f"{data}/train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(f"{data}/test.csv", dtype=str, keep_default_na=False)
    vectorizer = CountVectorizer(ngram_range=(1, 2), min_df=1)
    model = MultinomialNB(alpha=0.1)
    model.fit(vectorizer.fit_transform(train.text.map(clean)), train.label)
    features = vectorizer.transform(test.text.map(clean))
    spam = list(model.classes_).index("spam")
    test["spam_probability"] = model.predict_proba(features)[:, spam]
    test["label"] = model.predict(features)
    test[["id", "label", "spam_probability"]].to_csv(f"{out}/predictions.csv", index=False)
    print("nltk", nltk.__version__, "stop words", len(STOP))


if __name__ == "__main__":
    main()
'''

MODEL_PKL = '''
"""Train, save the model under models/ (relative to the working directory), load it back, predict."""
import json
import os
import pickle

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def main():
    params = json.load(open("config/params.json"))
    data, out = os.environ["DATA_DIR"], os.environ["OUTPUT_DIR"]
    train = pd.read_csv(f"{data}/train.csv", dtype=str, keep_default_na=False)
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=params["C"], class_weight="balanced"))
    model.fit(train.text, train.label)
    os.makedirs("models", exist_ok=True)
    with open("models/model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "model.pkl"), "rb") as fh:
        model = pickle.load(fh)
    test = pd.read_csv(f"{data}/test.csv", dtype=str, keep_default_na=False)
    test["label"] = model.predict(test.text)
    test[["id", "label"]].to_csv(f"{out}/predictions.csv", index=False)
    try:
        open("/submission/models-here.txt", "w").write("x")
        print("pristine: writable")
    except OSError as exc:
        print("pristine:", exc.strerror)
    print("cwd", os.getcwd(), "saved", os.path.getsize("models/model.pkl") > 0)


if __name__ == "__main__":
    main()
'''

SRC_RUN = '''
"""The entry point lives in src/ and imports its sibling module, as `python src/run.py` would."""
import os

import pandas as pd
from features import build_model


def main():
    data, out = os.environ["DATA_DIR"], os.environ["OUTPUT_DIR"]
    train = pd.read_csv(f"{data}/train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(f"{data}/test.csv", dtype=str, keep_default_na=False)
    model = build_model().fit(train.text, train.label)
    test["label"] = model.predict(test.text)
    test[["id", "label"]].to_csv(f"{out}/predictions.csv", index=False)
    print("ran", os.path.relpath(__file__), "from", os.getcwd())


if __name__ == "__main__":
    main()
'''

FEATURES = """
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline


def build_model():
    return make_pipeline(CountVectorizer(), MultinomialNB())
"""

# The predict.py an SMS repository already had: an interactive loop, not the entry point.
INTERACTIVE_PREDICT = """
import pickle
while True:
    message = input("message> ")
    print(pickle.load(open("models/model.pkl", "rb")).predict([message]))
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def manifest(entry: str | None = None) -> str:
    return 'assignment = "applied_ml"\n' + (f'entry = "{entry}"\n' if entry else "")


@pytest.fixture(scope="module")
def settings(data_dir, session_cache, sandbox_image) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=session_cache, image=sandbox_image, allow_download=False)


def nltk_classifier(root: Path, *, ship_stopwords: bool) -> Path:
    files = {"submission.toml": manifest(), "requirements.txt": "nltk\n", "predict.py": NLTK_CLASSIFIER}
    if ship_stopwords:
        files["nltk_data/corpora/stopwords/english"] = "\n".join(STOPWORDS) + "\n"
    return write(root, files)


def summary(report) -> dict:
    return {
        "score": report.score,
        "verdict": report.sandbox and report.sandbox.verdict,
        "messages": {m.code: m.text[:300] for m in report.messages},
        "stdout": report.sandbox and report.sandbox.stdout.text[-600:],
        "stderr": report.sandbox and report.sandbox.stderr.text[-1500:],
    }


def criterion(report, cid: str):
    return next(c for c in report.criteria if c.id == cid)


def test_the_nltk_classifier_with_shipped_stopwords_scores_like_its_f1(tmp_path, settings, no_containers_left):
    report = grade(nltk_classifier(tmp_path / "nltk-shipped", ship_stopwords=True), settings=settings)
    info = summary(report)
    assert report.sandbox.verdict == "ok", info
    installed = report.provenance["dependencies"]["installed"]
    assert any(d.startswith("nltk==") for d in installed), installed
    assert f"stop words {len(set(STOPWORDS))}" in report.sandbox.stdout.text, info
    f1 = report.metrics["f1"]
    assert f1 >= 0.9, info
    assert criterion(report, "holdout_performance").level == 5, info
    assert report.score >= 80, info
    codes = {m.code for m in report.messages}
    # nltk.download("stopwords") failed (no network), the shipped copy was used: no alarm
    assert "nltk_resource_missing" not in codes and "network_blocked" not in codes, info
    assert "nltk_download_offline" in codes, info


def test_the_nltk_classifier_without_its_stopwords_is_told_both_fixes(tmp_path, settings, no_containers_left):
    report = grade(nltk_classifier(tmp_path / "nltk-missing", ship_stopwords=False), settings=settings)
    info = summary(report)
    assert report.sandbox.verdict == "crashed" and report.status == "graded", info
    missing = [m for m in report.messages if m.code == "nltk_resource_missing"]
    assert len(missing) == 1, info
    text = missing[0].text
    assert "'stopwords'" in text and "nltk_data/corpora/stopwords/" in text, text
    assert "not a network problem" in text and "ask the assignment's author" in text, text
    assert "network_blocked" not in {m.code for m in report.messages}, info


def test_a_script_that_saves_its_model_relative_to_its_cwd_runs(tmp_path, settings, no_containers_left):
    root = write(
        tmp_path / "model-pkl",
        {
            "submission.toml": manifest(),
            "predict.py": MODEL_PKL,
            "config/params.json": json.dumps({"C": 10.0}),
        },
    )
    report = grade(root, settings=settings)
    info = summary(report)
    assert report.sandbox.verdict == "ok", info
    assert "saved True" in report.sandbox.stdout.text and "cwd /workspace" in report.sandbox.stdout.text, info
    assert "pristine: Read-only file system" in report.sandbox.stdout.text, info
    assert report.metrics["f1"] >= 0.85, info
    assert not (root / "models").exists()  # the candidate's folder on the host is untouched


def test_an_entry_named_in_submission_toml_runs(tmp_path, settings, no_containers_left):
    root = write(
        tmp_path / "src-entry",
        {
            "submission.toml": manifest("src/run.py"),
            "src/run.py": SRC_RUN,
            "src/features.py": FEATURES,
            "predict.py": INTERACTIVE_PREDICT,  # would hang on input(): it must not be what runs
        },
    )
    report = grade(root, settings=settings, options=GradeOptions(timeout_s=60))
    info = summary(report)
    assert report.sandbox.verdict == "ok", info
    assert report.submission.entry_point == "src/run.py", info
    assert "ran src/run.py from /workspace" in report.sandbox.stdout.text, info
    assert report.metrics["f1"] >= 0.85, info


def test_a_wrong_entry_is_the_candidates_result_with_a_plain_message(tmp_path, settings, no_containers_left):
    root = write(tmp_path / "bad-entry", {"submission.toml": manifest("src/train.py"), "src/run.py": SRC_RUN})
    report = grade(root, settings=settings)
    info = summary(report)
    assert report.status == "graded" and report.sandbox.verdict == "not_run", info
    text = {m.code: m.text for m in report.messages}["entry_invalid"]
    assert "src/train.py" in text and "no such file" in text, text


def test_a_notebook_in_a_subfolder_runs_beside_its_files(tmp_path, settings, no_containers_left):
    import nbformat

    cells = [
        "import json, os\nparams = json.load(open('params.json'))\nprint('cwd', os.getcwd())",
        "import pandas as pd\nfrom sklearn.feature_extraction.text import CountVectorizer\n"
        "from sklearn.naive_bayes import MultinomialNB\nfrom sklearn.pipeline import make_pipeline\n"
        "data, out = os.environ['DATA_DIR'], os.environ['OUTPUT_DIR']\n"
        "train = pd.read_csv(f'{data}/train.csv', dtype=str, keep_default_na=False)\n"
        "test = pd.read_csv(f'{data}/test.csv', dtype=str, keep_default_na=False)\n"
        "model = make_pipeline(CountVectorizer(), MultinomialNB(alpha=params['alpha'])).fit(train.text, train.label)",
        "os.makedirs('artifacts', exist_ok=True)\nopen('artifacts/notes.txt', 'w').write('done')\n"
        "test['label'] = model.predict(test.text)\ntest[['id', 'label']].to_csv(f'{out}/predictions.csv', index=False)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    root = write(
        tmp_path / "nb-entry",
        {
            "submission.toml": manifest("notebooks/spam.ipynb"),
            "notebooks/spam.ipynb": nbformat.writes(nb),
            "notebooks/params.json": json.dumps({"alpha": 0.5}),
        },
    )
    report = grade(root, settings=settings)
    info = summary(report)
    assert report.sandbox.verdict == "ok", info
    assert "cwd /workspace/notebooks" in report.sandbox.stdout.text, info
    assert not report.sandbox.runner.get("cell_errors"), report.sandbox.runner
    assert report.metrics["f1"] >= 0.85, info


def test_a_declared_nltk_package_is_mounted_read_only_and_found(
    tmp_path, sandbox_image, session_cache, no_containers_left
):
    from tests.test_real_candidates import nltk_assignment

    root, data = nltk_assignment(tmp_path)
    settings = Settings(data_dir=data, cache_dir=session_cache, image=sandbox_image, allow_download=False)
    code = """
    import os
    from nltk.corpus import stopwords
    print("stopwords:", stopwords.words("english"))
    print("env:", os.environ["NLTK_DATA"], os.environ["HF_HOME"], os.environ["HF_HUB_OFFLINE"])
    try:
        open("/resources/nltk_data/x", "w")
    except OSError as exc:
        print("resources:", exc.strerror)
    """
    sub = write(tmp_path / "sub", {"requirements.txt": "nltk\n", "predict.py": code})
    report = grade(sub, root, settings=settings)
    info = summary(report)
    assert report.sandbox.verdict == "ok", info
    out = report.sandbox.stdout.text
    assert "stopwords: ['a', 'an', 'the', 'is']" in out, info
    assert "env: /workspace/nltk_data:/submission/nltk_data:/resources/nltk_data /resources/huggingface 1" in out, info
    assert "resources: Read-only file system" in out, info
