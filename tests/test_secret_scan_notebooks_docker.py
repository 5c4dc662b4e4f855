"""The secret scan on notebooks a candidate really commits: executed by nbclient in the sandbox
image (a real kernel), showing a fitted scikit-learn Pipeline (its HTML repr is full of
``sk-…`` class names), a pandas DataFrame, a widget view and hashes. No alarm may fire; keys of
the real shapes still do (issue 15, item 5)."""

from __future__ import annotations

import json
import random
import string

import pytest

from graders.files import list_files
from graders.habits import find_secrets, redact, secrets_signal
from harness.models import Verdict
from tests.test_notebook_runner_docker import run_notebook

CELLS = [
    "import hashlib, uuid\nimport pandas as pd\nfrom IPython.display import display\n"
    "from sklearn.feature_extraction.text import TfidfVectorizer\n"
    "from sklearn.linear_model import LogisticRegression\nfrom sklearn.pipeline import Pipeline",
    "texts = ['free prize now', 'see you at lunch', 'win cash today', 'call mum later'] * 5\n"
    "labels = ['spam', 'ham', 'spam', 'ham'] * 5\n"
    "pipe = Pipeline([('tfidf', TfidfVectorizer()), ('clf', LogisticRegression())]).fit(texts, labels)\n"
    "pipe",
    "pd.DataFrame({'text': texts, 'label': labels, 'p_spam': pipe.predict_proba(texts)[:, 1]}).head(10)",
    # what an ipywidgets view leaves in a notebook: a mime bundle with a random model id
    "display({'application/vnd.jupyter.widget-view+json': "
    "{'model_id': uuid.uuid4().hex, 'version_major': 2, 'version_minor': 0}, "
    "'text/plain': 'IntSlider(value=3)'}, raw=True)",
    "print(hashlib.sha256(b'model').hexdigest(), hashlib.md5(b'x').hexdigest(), uuid.uuid4())\n"
    "print('sk-' + hashlib.sha1(b'cache').hexdigest())",
]


def test_an_executed_notebook_with_sklearn_pandas_and_widgets_raises_no_alarm(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    run, dirs = run_notebook(docker_client, sandbox_image, tmp_path, CELLS)
    assert run.verdict == Verdict.OK, run.stderr.text
    executed = (dirs.trusted / "executed.ipynb").read_text()
    html = "".join(
        "".join(o.get("data", {}).get("text/html", ""))
        for cell in json.loads(executed)["cells"]
        for o in cell.get("outputs", [])
    )
    # the outputs really are there: the estimator's HTML repr and the DataFrame's table
    assert "sk-toggleable__label-arrow" in html and "sk-container-id" in html and "<table" in html
    assert "widget-view+json" in executed
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "solution.ipynb").write_text(executed)
    signal = secrets_signal(committed, list_files(committed))
    assert signal.value == 1.0, signal.evidence
    assert find_secrets(executed) == []
    assert redact(executed) == executed


def _random(n: int, alphabet: str = string.ascii_letters + string.digits, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize(
    "key",
    [
        "sk-" + _random(48),
        "sk-" + _random(20) + "T3BlbkFJ" + _random(20),
        "sk-proj-" + _random(156, string.ascii_letters + string.digits + "-_"),
        "sk-svcacct-" + _random(120, string.ascii_letters + string.digits + "-_"),
        "sk-admin-" + _random(100, string.ascii_letters + string.digits + "-_"),
        "sk-ant-api03-" + _random(93, string.ascii_letters + string.digits + "-_") + "AA",
    ],
)
def test_keys_of_the_real_shapes_still_alarm(key, tmp_path):
    (tmp_path / "notes.md").write_text(f"I used\n\n    export OPENAI_API_KEY={key}\n")
    (tmp_path / "cell.py").write_text(f"client = OpenAI({key!r})\n")
    signal = secrets_signal(tmp_path, list_files(tmp_path))
    assert signal.value == 0.0
    assert "notes.md line 3: possible OpenAI-style API key" in signal.evidence[0]
    assert "cell.py line 1: possible OpenAI-style API key" in signal.evidence[0]
    assert key not in redact(f"key={key}")
