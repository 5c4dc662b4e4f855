"""The sandbox image's Python: probed in the base at build, recorded on the image as a label,
read back into the image's layout (the candidates' requirements are resolved for it). Fast:
a fake engine stands in for Docker; tests/test_image_docker.py checks the real image."""

from __future__ import annotations

import pytest

from harness.errors import InfrastructureError
from sandbox import LABEL, PYTHON_LABEL
from sandbox import image as image_module
from sandbox.image import build_image, image_layout, runtime_tag
from sandbox.layout import LAYOUT


class FakeImage:
    def __init__(self, labels, id="sha256:fake"):
        self.labels, self.id, self.short_id = labels, id, id[:12]


class FakeEngine:
    """Only what build_image asks of docker-py: no image yet, a base whose python3 says ``python``."""

    def __init__(self, python: bytes):
        self.python, self.built = python, {}
        self.images = self
        self.containers = self

    def get(self, tag):
        from docker.errors import ImageNotFound

        if tag.startswith("holdout-sandbox:"):
            raise ImageNotFound(tag)
        return FakeImage({})

    def run(self, image, command, **kwargs):
        assert kwargs["network_mode"] == "none" and kwargs["remove"] is True
        return self.python

    def build(self, **kwargs):
        self.built = kwargs
        return FakeImage(kwargs["labels"]), []


def test_the_images_python_label_gives_its_layout():
    layout = image_layout(FakeImage({LABEL: "1", PYTHON_LABEL: "3.12.4"}))
    assert (layout.python_version, layout.python_full_version, layout.python_tag) == ("3.12", "3.12.4", "cp312")
    assert layout.venv == LAYOUT.venv and layout.entry == LAYOUT.entry, "only the Python differs"
    args = layout.pip_target_args()
    assert args[args.index("--python-version") + 1] == "3.12"


@pytest.mark.parametrize("labels", [{}, None, {LABEL: "1"}])
def test_an_image_built_before_the_label_has_the_layouts_python(labels):
    assert image_layout(FakeImage(labels)) is LAYOUT


@pytest.mark.parametrize("value", ["3.12", "3.12.4\n", "python 3.12.4", "", "3.12.4; rm -rf /", "2.7.18"])
def test_a_malformed_python_label_is_refused(value):
    with pytest.raises(InfrastructureError, match="malformed"):
        image_layout(FakeImage({PYTHON_LABEL: value}))


def test_the_build_records_the_probed_python_and_fetches_wheels_for_it(tmp_path, monkeypatch):
    fetched = []

    def fake_wheelhouse(cache_dir, python_tag, *, log):
        fetched.append(python_tag)
        (tmp_path / "wh").mkdir(exist_ok=True)
        return tmp_path / "wh"

    monkeypatch.setattr(image_module, "download_wheelhouse", fake_wheelhouse)
    engine, lines = FakeEngine(b"3.12.4\n"), []
    info = build_image(engine, tmp_path, base_image="python:3.12-slim", log=lines.append)
    assert info.built and info.tag == runtime_tag("python:3.12-slim")
    assert fetched == ["cp312"]
    assert engine.built["labels"][PYTHON_LABEL] == "3.12.4" and engine.built["labels"][LABEL] == "1"
    assert image_layout(FakeImage(engine.built["labels"])).python_version == "3.12"
    said = next(line for line in lines if "3.12.4" in line)
    assert "resolved for it" in said and "warning" not in " ".join(lines)


def test_a_base_whose_python3_prints_nonsense_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(image_module, "download_wheelhouse", lambda *a, **k: pytest.fail("no wheels for nonsense"))
    with pytest.raises(InfrastructureError, match="not a Python 3 version"):
        build_image(FakeEngine(b"Python 3.12.4 ready\n"), tmp_path, base_image="odd:1")


def test_the_runtime_tag_hashes_the_build_recipe(monkeypatch):
    """What _build passes besides the files (the Python label) is part of the tag: an image
    built by an older recipe, without the label, is never taken as current."""
    before = runtime_tag()
    monkeypatch.setattr(image_module, "RUNTIME_RECIPE_VERSION", "old")
    assert runtime_tag() != before
