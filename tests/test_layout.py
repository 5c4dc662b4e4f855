"""The image's layout has one owner (sandbox/layout.py): the host's code asks it, the build
passes it to the Dockerfile, and every module of the in-container entry goes into the image."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.image import ENTRY_FILES, HERE, RUNTIME_FILES
from sandbox.layout import LAYOUT

REPO = Path(__file__).resolve().parent.parent


def test_every_entry_module_is_copied_into_the_image():
    on_disk = {p.name for p in HERE.glob("entry*.py")}
    assert set(ENTRY_FILES) == on_disk and set(ENTRY_FILES) <= set(RUNTIME_FILES)
    copy = next(line for line in (HERE / "Dockerfile").read_text().splitlines() if line.startswith("COPY entry"))
    assert set(copy.split()[1:-1]) == on_disk and copy.split()[-1] == "${ENTRY_DIR}/"


def test_the_entry_modules_import_only_the_standard_library_and_each_other():
    allowed_local = {Path(name).stem for name in ENTRY_FILES}
    for name in ENTRY_FILES:
        text = (HERE / name).read_text()
        for module in re.findall(r"^(?:from|import) ([\w.]+)", text, flags=re.M):
            top = module.split(".")[0]
            assert top not in {"harness", "graders", "sandbox"}, f"{name} imports {module}: it runs in the image"
            if top.startswith("entry"):
                assert top in allowed_local, f"{name} imports {module}, which is not copied into the image"


def test_no_product_module_hard_codes_the_layout():
    literals = (LAYOUT.python, LAYOUT.entry_path, f'"{LAYOUT.python_version}"', "/opt/venv/bin:/usr/local/bin")
    for package in ("harness", "graders", "sandbox"):
        for path in (REPO / package).rglob("*.py"):
            if path.name == "layout.py":
                continue
            text = path.read_text()
            for literal in literals:
                assert literal not in text, f"{path.relative_to(REPO)} hard-codes {literal}: ask sandbox.layout.LAYOUT"


def test_layout_derived_values():
    assert LAYOUT.entry == [LAYOUT.python, LAYOUT.entry_path]
    assert LAYOUT.path("/deps/bin").split(":")[:2] == ["/deps/bin", f"{LAYOUT.venv}/bin"]
    args = LAYOUT.pip_target_args()
    assert args[args.index("--python-version") + 1] == LAYOUT.python_version
    assert LAYOUT.python_tag == "cp" + LAYOUT.python_version.replace(".", "")


def test_the_candidates_requirements_reach_the_entry_under_their_own_name(tmp_path):
    """A command through the entry gets the requirements' path as HOLDOUT_CANDIDATE_PYTHONPATH
    (the entry hands it to the candidate's processes only); any other command, which runs nothing
    trusted, gets PYTHONPATH."""
    from harness import provision
    from harness.pipeline import _via_entry
    from sandbox.layout import LAYOUT

    (tmp_path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    through_entry = provision.sandbox_env(tmp_path, None, via_entry=_via_entry([*LAYOUT.entry, "script", "predict.py"]))
    assert through_entry[LAYOUT.candidate_pythonpath_var] == "/deps/lib/python3.11/site-packages"
    assert "PYTHONPATH" not in through_entry
    own_tests = provision.sandbox_env(
        tmp_path, None, via_entry=_via_entry([LAYOUT.python, "/holdout-pytest/driver.py"])
    )
    assert own_tests["PYTHONPATH"] == "/deps/lib/python3.11/site-packages"
    assert LAYOUT.candidate_pythonpath_var not in own_tests


def test_the_entry_and_the_layout_name_the_same_variable():
    source = (Path(__file__).resolve().parent.parent / "sandbox" / "entry_uids.py").read_text()
    from sandbox.layout import LAYOUT

    assert f'CANDIDATE_PYTHONPATH = "{LAYOUT.candidate_pythonpath_var}"' in source
