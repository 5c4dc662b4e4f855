"""The host's render of the executed notebook is bounded: cells, source and output characters
and images are capped (each cut marked), the file is read within size and depth limits, the
render has a wall-clock limit, and only a notebook run's notebook is rendered at all."""

from __future__ import annotations

import json
import time

from harness.reports import notebook as rn
from harness.reports.write import write_reports
from tests.sample_reports import realistic_report


def _nb(cells: list[dict]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def _code(source: str, outputs: list | None = None, metadata: dict | None = None) -> dict:
    return {
        "cell_type": "code",
        "metadata": metadata or {},
        "execution_count": 1,
        "source": source,
        "outputs": outputs or [],
    }


def test_trim_caps_cells_source_outputs_and_images():
    image = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"image/png": "A" * (rn.MAX_IMAGE_BYTES + 1), "text/html": "<b>" * 9},
    }
    cells = [
        _code(
            "x = 1\n" * 10_000,
            [{"output_type": "stream", "name": "stdout", "text": ["y" * 50_000]}, *([image] if i == 0 else [])],
            {"junk": "x" * 1000},
        )
        for i in range(rn.MAX_CELLS + 50)
    ]
    notebook, cuts = rn.trim_notebook(json.loads(_nb(cells)))
    kept = notebook["cells"]
    assert len(kept) == rn.MAX_CELLS + 1 and "50 more cells not shown" in kept[-1]["source"]
    assert sum(len(c["source"]) for c in kept) <= rn.MAX_SOURCE_CHARS + 200 * (rn.MAX_CELLS + 1)
    assert "characters not shown" in kept[0]["source"] and len(kept[0]["source"]) < rn.MAX_CELL_SOURCE_CHARS + 100
    stream = kept[0]["outputs"][0]["text"]
    assert len(stream) < rn.MAX_OUTPUT_TEXT_CHARS + 100 and "characters not shown" in stream
    image_output = kept[0]["outputs"][1]["data"]
    assert "image/png" not in image_output and "not shown in this report" in image_output["text/plain"]
    assert all(c["metadata"] == {} for c in kept)
    total_output = sum(len(json.dumps(c.get("outputs", []))) for c in kept)
    assert total_output < rn.MAX_OUTPUT_CHARS + 400 * rn.MAX_CELLS  # plus the cut markers
    assert cuts > rn.MAX_CELLS


def test_forged_notebook_renders_within_its_caps(tmp_path):
    lines = [{"output_type": "stream", "name": "stdout", "text": "\x1b[31mred\x1b[0m line\n" * 5}]
    source = tmp_path / "executed.ipynb"
    source.write_text(_nb([_code(f"print({i})\n" * 5, lines) for i in range(20_000)]))  # ~5 MB, 20,000 cells
    assert rn.render_notebook(source, tmp_path / "notebook.html") is None
    page = (tmp_path / "notebook.html").read_text()
    assert "19,800 more cells not shown" in page and "Shortened for this report" in page
    assert len(page) < 4 * 2**20


def test_too_large_too_deep_or_linked_notebooks_are_notes(tmp_path):
    big = tmp_path / "big.ipynb"
    big.write_text(_nb([_code("x" * (rn.MAX_NOTEBOOK_BYTES + 10))]))
    assert "larger than" in rn.render_notebook(big, tmp_path / "a.html")
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested deeper" in rn.render_notebook(deep, tmp_path / "b.html")
    link = tmp_path / "link.ipynb"
    link.symlink_to(big)
    assert "symbolic link" in rn.render_notebook(link, tmp_path / "c.html")
    v3 = tmp_path / "v3.ipynb"
    v3.write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    assert "not an nbformat 4 notebook" in rn.render_notebook(v3, tmp_path / "d.html")
    assert not any(tmp_path.glob("*.html"))


def test_a_render_past_its_time_limit_is_abandoned_and_writes_nothing(tmp_path, monkeypatch):
    release = []

    def stuck(notebook):
        while not release:
            time.sleep(0.01)
        return "<p>late</p>"

    monkeypatch.setattr(rn, "_export", stuck)
    source = tmp_path / "executed.ipynb"
    source.write_text(_nb([_code("print(1)")]))
    error = rn.render_notebook(source, tmp_path / "notebook.html", timeout_s=0.2)
    release.append(True)
    assert error == "rendering took longer than 0.2 s and was abandoned"
    assert not (tmp_path / "notebook.html").exists()


def test_a_script_run_never_renders_a_notebook_it_left_behind(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "executed.ipynb").write_text(_nb([_code("print(1)")]))
    report = realistic_report()  # graded from predict.py
    assert report.provenance.get("entry_kind") != "notebook"
    page = write_reports(report, tmp_path)["html"].read_text()
    assert not (artifacts / "notebook.html").exists()
    assert "artifacts/notebook.html" not in page and "artifacts/executed.ipynb" not in page


def test_keep_artifacts_copies_the_notebook_of_a_notebook_run_only(tmp_path):
    from harness.reports.assembly import copy_artifacts

    logs, trusted = tmp_path / "logs", tmp_path / "trusted"
    logs.mkdir()
    trusted.mkdir()
    (trusted / "executed.ipynb").write_text(_nb([]))
    (logs / "executed.ipynb").write_text("forged by the candidate's code")
    (logs / "stdout.txt").write_text("out\n")
    for kind, expected in (("script", {"stdout.txt"}), ("notebook", {"stdout.txt", "executed.ipynb"})):
        out = tmp_path / kind
        copy_artifacts(out, sha256="ab" * 32, notebook_run=kind == "notebook", logs_dir=logs, trusted_dir=trusted)
        assert {p.name for p in out.iterdir()} - {"submission.sha256"} == expected
        if kind == "notebook":  # the runner's own copy, never the one in the candidate's logs
            assert (out / "executed.ipynb").read_text() == _nb([])
