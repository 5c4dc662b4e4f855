"""Candidate dependencies: parsing and policy (fast), then real pip + real Docker."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from harness import deps
from harness.api import grade
from harness.settings import Settings
from harness.spec import DependenciesSpec
from sandbox.layout import LAYOUT

PINS = {"numpy": "2.4.6", "scikit-learn": "1.9.1"}


def test_requirements_lines_are_checked(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        textwrap.dedent("""
        # comment
        rank-bm25==0.2.2   # inline comment
        -r other.txt
        --index-url https://example.invalid/simple
        evil @ https://example.invalid/evil.whl
        not a requirement!!
        pywin32; sys_platform == "win32"
        nltk
    """)
    )
    reqs, messages, source = deps.read_requirements(tmp_path)
    assert source == "requirements.txt"
    assert [str(r) for r in reqs] == ["rank-bm25==0.2.2", "nltk"]
    codes = [m.code for m in messages]
    assert codes.count("dep_unsupported") == 3 and codes.count("dep_invalid") == 1


def test_pyproject_dependencies_are_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["rank-bm25>=0.2"]\n')
    reqs, _, source = deps.read_requirements(tmp_path)
    assert source == "pyproject.toml" and [r.name for r in reqs] == ["rank-bm25"]


def test_requirements_symlink_is_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top-secret-package\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "requirements.txt").symlink_to(secret)
    assert deps.read_requirements(sub) == ([], [], None)


def test_policy_keeps_the_image_stack_unless_repinning_is_allowed():
    reqs = [Requirement(s) for s in ("numpy>=1.20", "scikit-learn==1.3.2", "rank-bm25", "torch", "rank_bm25")]
    plan = deps.apply_policy(reqs, DependenciesSpec(deny=["torch"]), PINS)
    assert plan.satisfied == ["numpy==2.4.6"]
    assert [r.name for r in plan.to_resolve] == ["rank-bm25"]
    assert {m.code for m in plan.messages} == {"dep_conflicts_with_image", "dep_denied", "dep_duplicate"}
    plan = deps.apply_policy(reqs[:2], DependenciesSpec(allow_repin=True), PINS)
    assert plan.repins == ["scikit-learn"] and [r.name for r in plan.to_resolve] == ["scikit-learn"]


def test_allow_list_refuses_everything_else():
    plan = deps.apply_policy([Requirement("requests")], DependenciesSpec(allow=["rank-bm25"]), PINS)
    assert not plan.to_resolve and plan.messages[0].code == "dep_denied"


def test_cache_key_ignores_order_and_depends_on_image():
    a = deps.Plan(to_resolve=[Requirement("a"), Requirement("b")])
    b = deps.Plan(to_resolve=[Requirement("b"), Requirement("a")])
    policy = DependenciesSpec()
    assert deps.cache_key(a, policy, "img:1", ()) == deps.cache_key(b, policy, "img:1", ())
    assert deps.cache_key(a, policy, "img:1", ()) != deps.cache_key(a, policy, "img:2", ())


# --- the image's Python (probed at build, read from the image's label) ----------------------

MARKED = ['newer; python_version >= "3.12"', 'older; python_version < "3.12"', 'micro; python_full_version >= "3.12.4"']


@pytest.mark.parametrize(
    ("python", "kept"),
    [("3.12.4", ["newer", "micro"]), ("3.12.1", ["newer"]), ("3.11.2", ["older"]), ("3.13.0", ["newer", "micro"])],
)
def test_markers_are_evaluated_for_the_given_python(tmp_path, python, kept):
    assert [r.name for r in deps.parse_lines(MARKED, "requirements.txt", python)[0]] == kept
    (tmp_path / "requirements.txt").write_text("\n".join(MARKED))
    assert [r.name for r in deps.read_requirements(tmp_path, python)[0]] == kept


def test_markers_default_to_the_layouts_python():
    default = [r.name for r in deps.parse_lines(MARKED, "requirements.txt")[0]]
    assert default == [r.name for r in deps.parse_lines(MARKED, "requirements.txt", LAYOUT.python_full_version)[0]]


def test_pip_download_targets_the_given_python(tmp_path):
    args = deps._download_args(tmp_path, ("--extra",), None, "3.12.4")
    assert args[args.index("--python-version") + 1] == "3.12.4"
    assert "--only-binary=:all:" in args and args[-1] == "--extra"


def test_cache_keys_differ_by_python():
    plan, policy = deps.Plan(to_resolve=[Requirement("a")]), DependenciesSpec()
    keys = {deps.cache_key(plan, policy, "img:1", (), python) for python in ("3.11.2", "3.11.9", "3.12.4")}
    assert len(keys) == 3
    assert deps.cache_key(plan, policy, "img:1", ()) == deps.cache_key(plan, policy, "img:1", (), "3.11.2")


def test_sdist_only_message_names_the_images_python(monkeypatch):
    monkeypatch.setattr(deps, "_pip", lambda args, **kw: "Available versions: 1.0")
    code, text = deps._classify(Requirement("legacy"), "No matching distribution", (), "3.12.4")
    assert code == "dep_sdist_only" and "Linux/Python 3.12 " in text


@pytest.mark.parametrize("image_python", ["3.12.4", None])
def test_grading_resolves_for_the_chosen_images_python(tmp_path, monkeypatch, image_python):
    from types import SimpleNamespace

    from harness import provision
    from harness.job import GradeOptions, Job

    (tmp_path / "requirements.txt").write_text("\n".join(MARKED))
    seen = {}

    def fake_resolve(plan, policy, cache_dir, image, pip_args, python):
        seen.update(reqs=[r.name for r in plan.to_resolve], image=image, python=python)

    monkeypatch.setattr(deps, "resolve", fake_resolve)
    job = Job(
        source=tmp_path,
        settings=Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache"),
        options=GradeOptions(image="img:1", image_python=image_python),
        job_dir=tmp_path,
        runner=lambda request: pytest.fail("nothing to install"),
    )
    assignment = SimpleNamespace(spec=SimpleNamespace(dependencies=DependenciesSpec()))
    done = provision.install_dependencies(job, assignment, SimpleNamespace(root=tmp_path))
    python = image_python or LAYOUT.python_full_version
    expected = [r.name for r in deps.parse_lines(MARKED, "requirements.txt", python)[0]]
    assert seen == {"reqs": expected, "image": "img:1", "python": python}
    assert done.record["python"] == python


# --- real pip (and Docker) ------------------------------------------------------------------

SPEC = """
id = "depsdemo"
title = "Dependencies demo"
[sandbox]
timeout_s = 60
[dependencies]
max_download_mb = {max_mb}
allow_repin = {repin}
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 1
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""

PREPARE = "def prepare(sources, out, seed):\n    (out.inputs / 'hello.txt').write_text('hi')\n"


@pytest.fixture
def assignment(tmp_path):
    def make(max_mb: int = 200, repin: bool = False) -> Path:
        root = tmp_path / f"assignment-{max_mb}-{repin}"
        root.mkdir(exist_ok=True)
        (root / "assignment.toml").write_text(SPEC.format(max_mb=max_mb, repin=str(repin).lower()))
        (root / "prepare.py").write_text(PREPARE)
        return root

    return make


def submission(tmp_path: Path, requirements: str, code: str) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "requirements.txt").write_text(requirements)
    (sub / "predict.py").write_text(textwrap.dedent(code))
    return sub


@pytest.fixture
def settings(tmp_path, sandbox_image, request) -> Settings:
    cache = request.getfixturevalue("session_cache")
    return Settings(data_dir=tmp_path / "data", cache_dir=cache, image=sandbox_image, allow_download=False)


@pytest.mark.docker
def test_rank_bm25_is_resolved_installed_and_used(tmp_path, assignment, settings, no_containers_left):
    sub = submission(
        tmp_path,
        "rank-bm25==0.2.2\nnumpy\n",
        """
        from rank_bm25 import BM25Okapi
        bm = BM25Okapi([["spam", "free"], ["hello", "mum"]])
        print("bm25 scores", list(bm.get_scores(["free"])))
    """,
    )
    report = grade(sub, assignment(), settings=settings)
    record = report.provenance["dependencies"]
    assert "rank-bm25==0.2.2" in record["installed"], record
    assert "numpy==2.4.6" in record["preinstalled"]
    assert report.sandbox.verdict == "ok", report.sandbox.stderr.text
    assert "bm25 scores" in report.sandbox.stdout.text
    # A second submission with the same requirements resolves and installs nothing new.
    again = grade(sub, assignment(), settings=settings)
    assert again.provenance["dependencies"]["cache"] == "hit"
    assert "install_s" not in again.provenance["dependencies"]
    assert again.sandbox.verdict == "ok"


@pytest.mark.docker
def test_unknown_package_is_feedback_and_the_run_still_happens(tmp_path, assignment, settings, no_containers_left):
    sub = submission(tmp_path, "holdout-no-such-package-3f9a2c==1.0\n", "print('ran anyway')\n")
    report = grade(sub, assignment(), settings=settings)
    codes = {m.code: m.text for m in report.messages}
    assert "dep_not_found" in codes and "holdout-no-such-package-3f9a2c" in codes["dep_not_found"]
    assert report.sandbox.verdict == "ok" and "ran anyway" in report.sandbox.stdout.text


def build_marker_sdist(where: Path, marker: Path) -> Path:
    """A local sdist whose setup.py would write ``marker`` if anything ever ran it."""
    src = where / "src"
    src.mkdir()
    (src / "setup.py").write_text(
        f"open({str(marker)!r}, 'w').write('setup.py ran on the host')\n"
        "from setuptools import setup\nsetup(name='holdout-marker-pkg', version='1.0', py_modules=[])\n"
    )
    dist = where / "dist"
    dist.mkdir()
    import tarfile

    with tarfile.open(dist / "holdout_marker_pkg-1.0.tar.gz", "w:gz") as tar:
        tar.add(src / "setup.py", arcname="holdout_marker_pkg-1.0/setup.py")
    marker.unlink(missing_ok=True)
    return dist


@pytest.mark.docker
def test_sdist_only_package_is_refused_and_never_built(tmp_path, assignment, sandbox_image, no_containers_left):
    marker = tmp_path / "MARKER"
    dist = build_marker_sdist(tmp_path, marker)
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        image=sandbox_image,
        allow_download=False,
        pip_args=("--no-index", "--find-links", str(dist)),
    )
    sub = submission(tmp_path, "holdout-marker-pkg==1.0\n", "print('ran')\n")
    report = grade(sub, assignment(), settings=settings)
    codes = {m.code for m in report.messages}
    assert "dep_sdist_only" in codes, [(m.code, m.text) for m in report.messages]
    assert not marker.exists(), "the sdist's setup.py ran on the host"
    assert report.sandbox.verdict == "ok"


@pytest.mark.docker
def test_too_large_is_refused_with_the_limit(tmp_path, assignment, settings, no_containers_left):
    sub = submission(tmp_path, "pyarrow\n", "print('ran')\n")
    report = grade(sub, assignment(max_mb=5), settings=settings)
    text = {m.code: m.text for m in report.messages}
    assert "dep_too_large" in text and "5 MB" in text["dep_too_large"], text
    assert report.sandbox.verdict == "ok"


@pytest.mark.docker
def test_old_scikit_learn_follows_the_policy(tmp_path, assignment, settings, no_containers_left):
    code = "import sklearn; print('sklearn', sklearn.__version__)\n"
    sub = submission(tmp_path, "scikit-learn==1.5.2\n", code)
    kept = grade(sub, assignment(repin=False), settings=settings)
    assert "dep_conflicts_with_image" in {m.code for m in kept.messages}
    assert "sklearn 1.9.1" in kept.sandbox.stdout.text
    repinned = grade(sub, assignment(repin=True), settings=settings)
    assert "sklearn 1.5.2" in repinned.sandbox.stdout.text, repinned.sandbox.stderr.text
    assert "scikit-learn==1.5.2" in repinned.provenance["dependencies"]["installed"]


RESOURCE_SPEC = (
    SPEC
    + """
[[data.resources]]
name = "nltk_data/corpora/stopwords/english"
sha256 = "{sha}"
"""
)


@pytest.mark.docker
def test_nltk_from_requirements_reads_declared_resources_and_explains_missing_ones(
    tmp_path, sandbox_image, session_cache, no_containers_left
):
    import hashlib

    words = "holdout\nsandbox\nstopword\n"
    data = tmp_path / "data"
    (data / "nltk_data/corpora/stopwords").mkdir(parents=True)
    (data / "nltk_data/corpora/stopwords/english").write_text(words)
    root = tmp_path / "nltk-assignment"
    root.mkdir()
    sha = hashlib.sha256(words.encode()).hexdigest()
    (root / "assignment.toml").write_text(RESOURCE_SPEC.format(max_mb=200, repin="false", sha=sha))
    (root / "prepare.py").write_text(PREPARE)
    settings = Settings(data_dir=data, cache_dir=session_cache, image=sandbox_image, allow_download=False)
    sub = submission(
        tmp_path,
        "nltk==3.9.2\n",
        """
        from nltk.corpus import stopwords
        print("stopwords:", stopwords.words("english"))
        import nltk
        nltk.data.find("tokenizers/punkt_tab")
    """,
    )
    report = grade(sub, root, settings=settings)
    assert any(d.startswith("nltk==") for d in report.provenance["dependencies"]["installed"])
    assert "stopwords: ['holdout', 'sandbox', 'stopword']" in report.sandbox.stdout.text, report.sandbox.stderr.text
    missing = [m for m in report.messages if m.code == "nltk_resource_missing"]
    assert missing and "punkt_tab" in missing[0].text and "no network" in missing[0].text


def test_prune_cache_by_age_then_size(tmp_path):
    import os
    import time

    root = tmp_path / "deps"
    for name, age_days, size in [("old", 40, 10), ("a", 2, 600_000), ("b", 1, 600_000)]:
        d = root / name
        d.mkdir(parents=True)
        (d / "w.whl").write_bytes(b"x" * size)
        t = time.time() - age_days * 86400
        os.utime(d, (t, t))
    removed = {p.name for p in deps.prune_cache(tmp_path, max_age_days=30, max_total_mb=1.0)}
    assert removed == {"old", "a"}
    assert (root / "b").exists()
