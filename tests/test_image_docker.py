"""The image build: content-hashed tags, the no-op rebuild, and --base-image."""

from __future__ import annotations

import time

import pytest

from harness.errors import ImageMissing
from sandbox.image import base_tag, build_image, runtime_tag

pytestmark = pytest.mark.docker


def test_rebuild_with_nothing_changed_is_a_fast_no_op(docker_client, sandbox_image, tmp_path):
    started = time.monotonic()
    info = build_image(docker_client, tmp_path / "cache")
    assert info.tag == sandbox_image and info.built is False
    assert time.monotonic() - started < 10


def test_tags_are_content_hashes():
    assert runtime_tag() == runtime_tag()
    assert runtime_tag("some/other:base") != runtime_tag()
    assert runtime_tag().startswith("holdout-sandbox:") and base_tag().startswith("holdout-base:")


def test_the_built_image_records_its_real_python(docker_client, sandbox_image):
    """The label the build wrote is the version of the image's own interpreter, and grading
    resolves the candidates' requirements for it."""
    from sandbox import LABEL, PYTHON_LABEL
    from sandbox.image import image_layout
    from sandbox.layout import LAYOUT

    image = docker_client.images.get(sandbox_image)
    real = docker_client.containers.run(
        sandbox_image,
        [LAYOUT.python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        network_mode="none",
        remove=True,
        labels={LABEL: "1"},
    )
    assert image.labels[PYTHON_LABEL] == real.decode().strip()
    layout = image_layout(image)
    assert layout.python_full_version == real.decode().strip() and layout.python_tag.startswith("cp3")


def test_base_image_option_builds_on_an_existing_image(docker_client, sandbox_image, session_cache):
    # Any image with python3 works as a base; our own base stands in for a registry image here.
    local_base = "holdout-test-base:latest"
    docker_client.images.get(base_tag()).tag("holdout-test-base", "latest")
    tag = runtime_tag(local_base)
    try:
        info = build_image(docker_client, session_cache, base_image=local_base)
        assert info.tag == tag and tag != sandbox_image
        out = docker_client.containers.run(
            tag,
            ["/opt/venv/bin/python", "-c", "import sklearn, nbclient; print('ok')"],
            network_mode="none",
            remove=True,
        )
        assert out.strip() == b"ok"
        from sandbox.image import image_layout

        built, ours = (image_layout(docker_client.images.get(t)) for t in (tag, sandbox_image))
        assert built.python_full_version == ours.python_full_version, "the same base, the same Python"
    finally:
        for name in (tag, local_base):
            try:
                docker_client.images.remove(name, force=True)
            except Exception:
                pass


def test_missing_base_image_says_it_cannot_be_pulled(docker_client, tmp_path):
    with pytest.raises(ImageMissing, match="cannot be pulled"):
        build_image(docker_client, tmp_path, base_image="holdout-no-such-image:1")
