"""Spare the sandbox's non-root processes a FUSE round trip on every absolute path.

On the ``fuse-overlayfs`` storage driver the kernel checks a non-owner's search permission on
the container's ``/`` by fetching that directory's POSIX ACL from the FUSE daemon, every time:
about 20-60 µs per absolute path for the candidate's and the runner's uids, against 2-5 µs for
uid 0 (the owner, for whom ACLs do not matter). Python's imports stat and open thousands of
absolute paths. The kernel consults the ACL only when the directory's *group* permission bits
are not all zero (``acl_permission_check``), and the container's ``/`` takes its mode from the
container's own upper layer, which the engine makes ``0755``.

So, on such an engine, the host clears the group bits of that upper layer's root directory
(``0755`` → ``0705``) after the container is created and before it starts. It is a narrowing:
uid 0 (the owner) keeps ``rwx``, every other uid keeps the ``r-x`` it had as "other", and the
group class loses access — no sandbox process runs with group 0 but a uid other than 0 (the
candidate and the runner have their own gid and no supplementary groups, see
``sandbox/entry_uids.py``). Nothing in the image and no other container changes; the layer is
removed with the container.

The host can do this only where it reaches the engine's storage (the engine on this host, and
this process allowed to change its folders: root). ``GRADE_SANDBOX_ROOT`` picks: ``auto`` (the
default: on a fuse-overlayfs engine, when the layer is reachable; silently the engine's mode
otherwise), ``narrow`` (always, and an error if the layer cannot be changed) or ``image`` (never).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from harness.errors import ConfigError

MODES = ("auto", "narrow", "image")
SLOW_DRIVERS = frozenset({"fuse-overlayfs"})
"""Storage drivers whose container root costs a FUSE ACL fetch per lookup by a non-owner."""
GROUP_BITS = stat.S_IRWXG


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ConfigError(
            f"GRADE_SANDBOX_ROOT={mode!r} is not one of {', '.join(MODES)}",
            hint="Unset it (auto: narrow the root only on a fuse-overlayfs engine), or set narrow or image.",
        )
    return mode


def narrow_root(attrs: dict, mode: str) -> bool:
    """Clear the group bits of a created (not started) container's root; True if it now has none.

    ``attrs`` is the container's inspect data (``GraphDriver``). ``auto`` gives up quietly where
    the layer is out of reach; ``narrow`` raises :class:`ConfigError` there.
    """
    if check_mode(mode) == "image":
        return False
    driver = attrs.get("GraphDriver") or {}
    if mode == "auto" and driver.get("Name") not in SLOW_DRIVERS:
        return False
    upper = (driver.get("Data") or {}).get("UpperDir")
    try:
        return _clear_group_bits(upper)
    except OSError as exc:
        if mode == "auto":
            return False
        raise ConfigError(
            f"GRADE_SANDBOX_ROOT=narrow, but the container's root layer {upper!r} cannot be changed "
            f"from here ({exc.strerror or exc})",
            hint="Run grade as root on the engine's host, or set GRADE_SANDBOX_ROOT=auto or image.",
        ) from exc


def _clear_group_bits(upper: object) -> bool:
    if not isinstance(upper, str) or not os.path.isabs(upper):
        raise FileNotFoundError(2, "the engine names no upper layer")
    path = Path(upper)
    st = path.lstat()  # the layer's own folder, never a link to somewhere else
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "the upper layer is not a folder")
    if st.st_mode & GROUP_BITS:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~GROUP_BITS)
        finally:
            os.close(fd)
    return True
