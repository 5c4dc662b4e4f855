"""Narrowing the container's root (sandbox/root_mode.py) on a fake engine's inspect data (fast).

The real engine is exercised by tests/test_root_mode_docker.py and, for every protection, by
the doctor, the sandbox protection tests and the hostile catalogue, which run with it on."""

from __future__ import annotations

import os
import stat

import pytest

from harness.errors import ConfigError
from harness.settings import Settings
from sandbox.root_mode import check_mode, narrow_root


def attrs(upper, driver: str = "fuse-overlayfs") -> dict:
    return {"GraphDriver": {"Name": driver, "Data": {"UpperDir": str(upper), "LowerDir": "/x"}}}


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def upper(tmp_path):
    path = tmp_path / "diff"
    path.mkdir()
    path.chmod(0o755)
    return path


def test_auto_clears_only_the_group_bits_on_a_fuse_overlayfs_engine(upper):
    assert narrow_root(attrs(upper), "auto") is True
    assert mode_of(upper) == 0o705
    assert narrow_root(attrs(upper), "auto") is True  # already narrow: left as it is
    assert mode_of(upper) == 0o705


def test_auto_leaves_other_drivers_as_the_engine_made_them(upper):
    assert narrow_root(attrs(upper, "overlay2"), "auto") is False
    assert mode_of(upper) == 0o755
    assert narrow_root({}, "auto") is False


def test_narrow_applies_on_any_driver_and_image_never(upper):
    assert narrow_root(attrs(upper, "overlay2"), "image") is False
    assert mode_of(upper) == 0o755
    assert narrow_root(attrs(upper, "overlay2"), "narrow") is True
    assert mode_of(upper) == 0o705


def test_an_unreachable_layer_is_quietly_skipped_by_auto_and_an_error_for_narrow(tmp_path):
    missing = tmp_path / "elsewhere" / "diff"  # a remote engine's path: not on this host
    assert narrow_root(attrs(missing), "auto") is False
    assert narrow_root({"GraphDriver": {"Name": "fuse-overlayfs", "Data": {}}}, "auto") is False
    with pytest.raises(ConfigError) as err:
        narrow_root(attrs(missing), "narrow")
    assert "GRADE_SANDBOX_ROOT=narrow" in str(err.value) and "GRADE_SANDBOX_ROOT=auto or image" in err.value.hint


def test_a_link_or_a_file_in_place_of_the_layer_is_never_followed_or_changed(tmp_path, upper):
    link = tmp_path / "link"
    link.symlink_to(upper)
    assert narrow_root(attrs(link), "auto") is False
    assert mode_of(upper) == 0o755
    plain = tmp_path / "file"
    plain.write_text("x")
    plain.chmod(0o644)
    assert narrow_root(attrs(plain), "auto") is False
    assert mode_of(plain) == 0o644
    assert narrow_root(attrs("relative/diff"), "auto") is False


def test_a_misspelled_mode_is_a_configuration_error_naming_the_choices():
    with pytest.raises(ConfigError) as err:
        check_mode("fast")
    assert "GRADE_SANDBOX_ROOT='fast'" in str(err.value) and "auto, narrow, image" in str(err.value)


def test_the_setting_comes_from_the_environment():
    assert Settings.from_env({}).sandbox_root == "auto"
    assert Settings.from_env({"GRADE_SANDBOX_ROOT": "image"}).sandbox_root == "image"
