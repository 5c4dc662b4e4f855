"""Real candidates' ways of working, on the host (no Docker): the NLTK missing-resource
message in every nltk's wording, a declared entry point checked, declared resources fetched
and laid out where NLTK and huggingface_hub look, the writable working copy.

The Docker side (the same, end to end) is tests/test_real_candidates_docker.py.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from graders.run_hints import blocked_resources, nltk_missing
from harness.errors import DataError
from harness.manifest import EntryProblem, declared_entry
from harness.resources import prepare_resources
from harness.settings import Settings
from harness.spec import Assignment, EntrySpec, parse_spec
from harness.workcopy import make_work_copy, workdir

# --- the NLTK message ------------------------------------------------------------------------


def real_nltk_lookup_error(tmp_path: Path) -> str:
    """What the installed nltk (the version an unpinned install gets) prints for missing stopwords."""
    code = "from nltk.corpus import stopwords\nstopwords.words('english')\n"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NLTK_DATA": str(tmp_path / "none")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "LookupError" in done.stderr, done.stderr[-2000:]
    return done.stderr


NLTK_3_9 = (  # nltk 3.9.x's format (data.py): the name in colour codes, no quotes
    "LookupError: \n" + "*" * 70 + "\n  Resource \x1b[93mstopwords\x1b[0m not found.\n"
    "  Please use the NLTK Downloader to obtain the resource:\n\n  >>> import nltk\n"
    "  >>> nltk.download('stopwords')\n  \n  For more information see: https://www.nltk.org/data.html\n\n"
    "  Attempted to load \x1b[93mcorpora/stopwords\x1b[0m\n\n  Searched in:\n    - '/tmp/nltk_data'\n" + "*" * 70
)
NLTK_OLD = "  Resource 'tokenizers/punkt/english.pickle' not found.  Please use the NLTK\n  Downloader"
NLTK_ENTRY = (
    "  Resource entry 'tokenizers/punkt_tab/english/' not found in installed package 'punkt_tab'.\n"
    "  The package appears to be installed, but the requested file is missing.\n"
)
DOWNLOAD_FAILED = (
    "[nltk_data] Error loading stopwords: <urlopen error [Errno -3]\n"
    "[nltk_data]     Temporary failure in name resolution>\n"
)


def test_the_installed_nltk_wording_names_the_resource_and_both_fixes(tmp_path):
    import nltk

    text = real_nltk_lookup_error(tmp_path)
    messages = blocked_resources(DOWNLOAD_FAILED + text, "run")
    codes = [m.code for m in messages]
    assert codes == ["nltk_resource_missing"], (nltk.__version__, codes)
    message = messages[0].text
    assert "'stopwords'" in message and "nltk_data/corpora/stopwords/" in message
    assert "not a network problem" in message and "no network" in message
    assert "ask the assignment's author" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NLTK_3_9, [("stopwords", "corpora/stopwords")]),
        (NLTK_OLD, [("punkt", "tokenizers/punkt/english.pickle")]),
        (NLTK_ENTRY, [("punkt_tab", "tokenizers/punkt_tab/english/")]),
        (NLTK_3_9 + "\nDuring handling of the above exception\n" + NLTK_3_9, [("stopwords", "corpora/stopwords")]),
        ("Resource \x1b[93m$(rm -rf ~)\x1b[0m not found.", []),
    ],
)
def test_every_nltk_wording_is_recognised(text, expected):
    assert nltk_missing(text) == expected


def test_a_failed_download_with_the_data_found_is_no_network_alarm():
    messages = blocked_resources(DOWNLOAD_FAILED + "accuracy 0.98\n", "run")
    assert [m.code for m in messages] == ["nltk_download_offline"]
    assert messages[0].level == "info"
    # the code's own network use is still named
    own = blocked_resources("OSError: [Errno 101] Network is unreachable\n", "run")
    assert [m.code for m in own] == ["network_blocked"]


# --- the declared entry point ------------------------------------------------------------------


@pytest.fixture
def sub(tmp_path) -> Path:
    root = tmp_path / "sub"
    (root / "src").mkdir(parents=True)
    (root / "src" / "run.py").write_text("print('hi')\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "eda.ipynb").write_text("{}")
    (root / "notes.txt").write_text("x")
    (root / "link.py").symlink_to(root / "src" / "run.py")
    return root


def entry_of(root: Path, value, spec: EntrySpec | None = None):
    line = f"entry = {json.dumps(value)}\n" if not isinstance(value, int) else f"entry = {value}\n"
    (root / "submission.toml").write_text('assignment = "applied_ml"\n' + line)
    return declared_entry(root, spec or EntrySpec())


def test_a_declared_script_or_notebook_is_the_entry(sub):
    assert entry_of(sub, "src/run.py") == ("script", "src/run.py")
    assert entry_of(sub, "notebooks/eda.ipynb") == ("notebook", "notebooks/eda.ipynb")
    (sub / "submission.toml").write_text('assignment = "applied_ml"\n')
    assert declared_entry(sub, EntrySpec()) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("src/train.py", "no such file (src/train.py is missing)"),
        ("Src/run.py", "capitals"),
        ("../predict.py", "not a path inside the submission"),
        ("/etc/passwd.py", "not a path inside the submission"),
        ("src\\run.py", "forward slashes"),
        ("notes.txt", "runs a .py script or a .ipynb notebook"),
        ("link.py", "is a link"),
        ("src", "runs a .py script"),
        (3, "must be a path in quotes"),
        ("", "must be a path in quotes"),
    ],
)
def test_a_wrong_entry_gets_a_plain_message(sub, value, says):
    with pytest.raises(EntryProblem) as caught:
        entry_of(sub, value)
    assert says in str(caught.value)


def test_an_entry_of_a_kind_the_assignment_does_not_run(sub):
    with pytest.raises(EntryProblem, match="runs a .ipynb notebook"):
        entry_of(sub, "src/run.py", EntrySpec(script=None))


def test_a_declared_entry_that_is_a_folder(sub):
    (sub / "pkg.py").mkdir()
    with pytest.raises(EntryProblem, match="is a folder"):
        entry_of(sub, "pkg.py")


def test_an_unreadable_manifest_is_the_candidates_message(sub):
    (sub / "submission.toml").write_text("entry = [unclosed\n")
    with pytest.raises(EntryProblem, match="not valid TOML"):
        declared_entry(sub, EntrySpec())


def test_the_working_directory_follows_the_entry():
    assert workdir("src/run.py", "script") == "/workspace"
    assert workdir("solution.ipynb", "notebook") == "/workspace"
    assert workdir("notebooks/eda.ipynb", "notebook") == "/workspace/notebooks"


# --- the writable working copy -----------------------------------------------------------------


def test_the_working_copy_belongs_to_the_candidate_and_is_counted(sub, tmp_path):
    dest = tmp_path / "run" / "work"
    dest.parent.mkdir()
    used, entries = make_work_copy(sub, dest)
    assert (dest / "src" / "run.py").read_text() == "print('hi')\n"
    assert (dest / "link.py").is_symlink()  # copied as a link, never followed
    assert entries == 6 and used > 0
    if os.getuid() == 0:
        from sandbox.runner import CANDIDATE_UID

        for path in (dest, dest / "src", dest / "src" / "run.py"):
            assert os.stat(path).st_uid == CANDIDATE_UID
        assert oct(os.stat(dest / "src").st_mode & 0o777) == "0o755"  # NLTK 3.10 refuses group/world-writable data
        assert oct(os.stat(dest / "src" / "run.py").st_mode & 0o777) == "0o644"
    assert (sub / "src" / "run.py").stat().st_uid == os.getuid()  # the original is untouched


# --- declared resources ------------------------------------------------------------------------

STOPWORDS = "a\nan\nthe\nis\n"
REVISION = "0123456789abcdef0123456789abcdef01234567"
CONFIG = b'{"model_type": "bert"}'


def stopwords_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("stopwords/", "")
        zf.writestr("stopwords/english", STOPWORDS)
        zf.writestr("stopwords/README", "Stopwords Corpus\n")
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path):
    """A local HTTP server over a folder: the declared urls, without the internet."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def resource_assignment(tmp_path: Path, base_url: str, zip_sha: str, config_sha: str) -> Assignment:
    spec = parse_spec(
        {
            "id": "res",
            "title": "resources",
            "data": {
                "nltk": [
                    {"id": "stopwords", "category": "corpora", "sha256": zip_sha, "url": f"{base_url}/stopwords.zip"}
                ],
                "models": [
                    {
                        "repo": "acme/tiny-bert",
                        "revision": REVISION,
                        "files": [{"name": "config.json", "sha256": config_sha, "url": f"{base_url}/config.json"}],
                    }
                ],
            },
        }
    )
    root = tmp_path / "res"
    root.mkdir(exist_ok=True)
    return Assignment(spec=spec, root=root)


def test_declared_nltk_packages_and_model_snapshots_are_fetched_checked_and_found(tmp_path, served):
    folder, url = served
    (folder / "stopwords.zip").write_bytes(stopwords_zip())
    (folder / "config.json").write_bytes(CONFIG)
    zip_sha = hashlib.sha256(stopwords_zip()).hexdigest()
    assignment = resource_assignment(tmp_path, url, zip_sha, hashlib.sha256(CONFIG).hexdigest())
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=True)

    target = prepare_resources(assignment, settings)
    assert (tmp_path / "data" / "nltk_data" / "corpora" / "stopwords.zip").is_file()  # kept in the data dir
    assert (target / "nltk_data" / "corpora" / "stopwords" / "english").read_text() == STOPWORDS
    assert prepare_resources(assignment, settings) == target  # cached: no second fetch
    # the real libraries find them, offline
    code = (
        "from nltk.corpus import stopwords; print(stopwords.words('english'))\n"
        "from huggingface_hub import hf_hub_download\n"
        "print(open(hf_hub_download('acme/tiny-bert', 'config.json')).read())\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NLTK_DATA": str(target / "nltk_data"),
        "HF_HOME": str(target / "huggingface"),
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "['a', 'an', 'the', 'is']" in done.stdout and '"model_type": "bert"' in done.stdout


def test_an_altered_resource_is_refused_by_name(tmp_path, served):
    folder, url = served
    (folder / "stopwords.zip").write_bytes(stopwords_zip() + b"tampered")
    (folder / "config.json").write_bytes(CONFIG)
    assignment = resource_assignment(
        tmp_path, url, hashlib.sha256(stopwords_zip()).hexdigest(), hashlib.sha256(CONFIG).hexdigest()
    )
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=True)
    with pytest.raises(DataError, match="checksum mismatch for nltk_data/corpora/stopwords.zip"):
        prepare_resources(assignment, settings)
    assert not (tmp_path / "cache" / "resources").exists() or not any((tmp_path / "cache" / "resources").iterdir())


def test_an_nltk_zip_with_a_member_outside_its_folder_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../escape", "x")
    data = tmp_path / "data" / "nltk_data" / "corpora"
    data.mkdir(parents=True)
    (data / "stopwords.zip").write_bytes(buffer.getvalue())
    sha = hashlib.sha256(buffer.getvalue()).hexdigest()
    assignment = resource_assignment(tmp_path, "http://127.0.0.1:9", sha, "0" * 64)
    assignment = Assignment(
        spec=assignment.spec.model_copy(update={"data": assignment.spec.data.model_copy(update={"models": []})}),
        root=assignment.root,
    )
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(DataError, match="member outside its folder"):
        prepare_resources(assignment, settings)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"repo": "just-a-name", "revision": REVISION, "files": [{"name": "a", "sha256": "0" * 64}]}, "org/name"),
        ({"repo": "a/b", "revision": "main", "files": [{"name": "a", "sha256": "0" * 64}]}, "40-hex"),
        ({"repo": "a/b", "revision": REVISION, "files": [{"name": "../a", "sha256": "0" * 64}]}, "relative path"),
    ],
)
def test_model_declarations_are_checked(entry, error):
    from harness.errors import SpecError

    with pytest.raises(SpecError, match=error):
        parse_spec({"id": "x", "title": "x", "data": {"models": [entry]}})


NLTK_SPEC = """
id = "nltkdemo"
title = "NLTK resources demo"
[sandbox]
timeout_s = 120
[[data.nltk]]
id = "stopwords"
category = "corpora"
sha256 = "{sha}"
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
weight = 1
"""


def nltk_assignment(tmp_path: Path) -> tuple[Path, Path]:
    """An assignment declaring NLTK's stopwords, with the package's zip in its data dir."""
    data = tmp_path / "data"
    (data / "nltk_data" / "corpora").mkdir(parents=True)
    (data / "nltk_data" / "corpora" / "stopwords.zip").write_bytes(stopwords_zip())
    root = tmp_path / "nltkdemo"
    root.mkdir()
    (root / "assignment.toml").write_text(NLTK_SPEC.format(sha=hashlib.sha256(stopwords_zip()).hexdigest()))
    (root / "prepare.py").write_text(
        "def prepare(sources, out, seed):\n    (out.inputs / 'hello.txt').write_text('hi')\n"
    )
    return root, data


def test_grade_data_prepare_assembles_the_resources(tmp_path):
    from click.testing import CliRunner

    from harness.cli import cli

    root, data = nltk_assignment(tmp_path)
    env = {"GRADE_DATA_DIR": str(data), "GRADE_CACHE_DIR": str(tmp_path / "cache"), "GRADE_OFFLINE": "1"}
    result = CliRunner().invoke(cli, ["data", "prepare", str(root)], env=env)
    assert result.exit_code == 0, result.output
    assert "resources (mounted read-only at /resources)" in result.output
    found = list((tmp_path / "cache" / "resources").glob("*/nltk_data/corpora/stopwords/english"))
    assert len(found) == 1 and found[0].read_text() == STOPWORDS
