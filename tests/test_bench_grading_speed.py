"""The grading benchmark's fixtures (bench/synthetic.py, bench/peers.py, bench/grading_speed.py).

Fast tests: the synthetic assignment is deterministic and well-formed, the peers' test files
are valid, the figures are computed and written as documented. One real-Docker test grades the
synthetic reference notebook, so the benchmark cannot silently rot.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import nbformat
import pytest

from harness.assignments import find_assignment
from harness.data import prepare_assignment
from harness.settings import Settings

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def settings_for(setup, cache: Path) -> Settings:
    return Settings(
        data_dir=cache / "data", cache_dir=cache, assignment_paths=(setup.assignments,), allow_download=False
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_generation_is_deterministic(tmp_path):
    import synthetic

    a, b = synthetic.generate(tmp_path / "a"), synthetic.generate(tmp_path / "b")
    assert len(a.submissions) == 12
    assert files_of(a.root) == files_of(b.root)
    names = [p.name for p in a.submissions]
    assert names[0] == "00_reference" and len(set(names)) == 12
    for sub in a.submissions:
        nbformat.validate(nbformat.read(sub / synthetic.NOTEBOOK, as_version=4))
        assert (sub / "submission.toml").read_text() == 'assignment = "spam_synth"\n'


def test_variants_differ_where_they_should(tmp_path):
    import synthetic

    setup = synthetic.generate(tmp_path, 12)
    source = {
        p.name: "".join(c.source for c in nbformat.read(p / synthetic.NOTEBOOK, as_version=4).cells)
        for p in setup.submissions
    }
    assert "C=10.0" in source["00_reference"] and "C=0.3" in source["01_c_0.3"]
    assert "LogisticRegression(" not in source["08_weak"] and "KEYWORDS" in source["08_weak"]
    assert "'is_spam'" in source["09_crashes"]
    assert "char_wb" in source["11_slow"] and "char_wb" not in source["00_reference"]
    assert len(set(source.values())) == 12


def test_prepared_data_is_sms_like_and_reproducible(tmp_path):
    import synthetic

    setup = synthetic.generate(tmp_path / "gen")
    prepared = []
    for cache in (tmp_path / "c1", tmp_path / "c2"):
        settings = settings_for(setup, cache)
        prepared.append(prepare_assignment(find_assignment(synthetic.ASSIGNMENT_ID, settings), settings))
    first, second = prepared
    for name in ("inputs/train.csv", "inputs/test.csv", "hidden/test_labels.csv", "hidden/baselines.json"):
        assert (first.root / name).read_bytes() == (second.root / name).read_bytes(), name
    train, test = read_csv(first.inputs / "train.csv"), read_csv(first.inputs / "test.csv")
    labels = read_csv(first.hidden / "test_labels.csv")
    assert len(train) + len(test) == 5574 and 1000 < len(test) < 1200
    assert set(test[0]) == {"id", "text"}, "the public test inputs carry no labels"
    assert [r["id"] for r in labels] == [r["id"] for r in test]
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    spam = sum(r["label"] == "spam" for r in train) / len(train)
    assert 0.11 < spam < 0.16
    assert not (first.inputs / "test_labels.csv").exists()


def test_otter_test_file_is_ok_format(tmp_path):
    import peers

    env: dict = {}
    exec(compile(peers.OK_TEST.format(threshold=0.9), "predictions.py", "exec"), env)  # our own template
    assert env["OK_FORMAT"] is True
    (suite,) = env["test"]["suites"]
    assert suite["type"] == "doctest" and len(suite["cases"]) == 2
    assert "label_true" in suite["cases"][1]["code"] and suite["cases"][1]["hidden"]


def test_peer_venvs_pin_the_sandbox_stack():
    import peers

    pins = dict(p.split("==") for p in peers.stack_pins())
    requirements = (BENCH.parent / "sandbox" / "requirements.txt").read_text()
    assert {"numpy", "pandas", "scikit-learn", "ipykernel"} <= set(pins)
    for name, version in pins.items():
        assert f"{name}=={version}\n" in requirements


def test_paired_ratios_and_doc_section(tmp_path):
    import grading_speed as gs

    a, b = gs.Series("a", [2.0, 3.0, 4.0]), gs.Series("b", [2.0, 2.0, 2.0])
    assert gs.paired(a, b) == (1.5, 1.0, 2.0)
    assert gs.paired(b, a, 2.0) == pytest.approx((1 / 3, 0.25, 0.5))
    doc = tmp_path / "performance.md"
    doc.write_text(f"# Performance\n\nintro\n\n{gs.DOC_BEGIN}\nold figures\n{gs.DOC_END}\n\n## Notes\nkept\n")
    gs.write_doc(doc, "python bench/grading_speed.py --rounds 7", ["P1 grade / nbconvert: 0.95"], "img:1")
    text = doc.read_text()
    assert "old figures" not in text and "P1 grade / nbconvert: 0.95" in text
    assert text.startswith("# Performance\n\nintro\n") and text.endswith("## Notes\nkept\n")
    assert "$ python bench/grading_speed.py --rounds 7" in text and text.count(gs.DOC_BEGIN) == 1


@pytest.mark.docker
def test_synthetic_reference_grades_high_in_docker(tmp_path, sandbox_image, no_containers_left):
    import synthetic

    from harness.api import grade
    from harness.pipeline import GradeOptions

    setup = synthetic.generate(tmp_path / "gen", 1)
    settings = settings_for(setup, tmp_path / "cache")
    report = grade(
        setup.submissions[0],
        settings=settings,
        options=GradeOptions(image=sandbox_image, artifacts_dir=tmp_path / "artifacts"),
    )
    assert report.sandbox.verdict == "ok", report.messages
    assert report.status == "graded" and report.score >= 85
    assert 0.8 < report.metrics["f1"] < 0.97
    assert (tmp_path / "artifacts" / "executed.ipynb").is_file()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
