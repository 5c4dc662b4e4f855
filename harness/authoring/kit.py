"""The candidate's starter kit: ``grade kit ID -o kit.zip``.

The zip holds one folder named after the assignment with

- ``README.md`` (the contract) and ``NOTICE``/``LICENSE`` files from the assignment folder;
- ``data/``: the prepared ``kit/`` folder (public data only; see :mod:`harness.data`);
- the assignment's ``starter/`` folder, or a generated template entry point (``predict.py``);
- ``submission.toml`` with ``assignment = "<id>"``, so a submission names its assignment.

Nothing else of the assignment folder goes in. Before anything is written, every kit file is
scanned by content (:mod:`harness.authoring.leaks`) against the hidden material: the prepared
``hidden/`` folder, every grader's hidden paths (the ``pytest`` grader's tests), a
``hidden_tests/`` folder, and every canary (the reference solution among them). One hit
and the build is refused.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.authoring.leaks import HiddenFile, Leak, find_leaks
from harness.data import PreparedPaths, prepare_assignment
from harness.errors import ConfigError
from harness.settings import Settings
from harness.spec import Assignment

STARTER_DIR = "starter"
DATA_DIR = "data"
CONVENTIONAL_HIDDEN = ("hidden_tests",)
ATTRIBUTION = ("NOTICE", "NOTICE.md", "NOTICE.txt", "LICENSE", "LICENSE.md", "LICENSE.txt")
MANIFEST = "submission.toml"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "kit" / "entry_point.py"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
SKIP_NAMES = frozenset({"__pycache__", ".DS_Store", ".ipynb_checkpoints"})


class KitLeakError(ConfigError):
    """The kit would contain hidden content (labels, references, hidden tests); nothing is written.

    ``leaks`` names each kit file and the hidden file it carries.
    """

    def __init__(self, leaks: list[Leak]) -> None:
        shown = "\n  ".join(str(leak) for leak in leaks[:20])
        more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
        super().__init__(
            f"refusing to build the starter kit: {len(leaks)} file(s) would leak hidden content:\n  {shown}{more}",
            hint="Remove the hidden values from those files (README examples must use made-up ids), "
            "or move the file out of the kit.",
        )
        self.leaks = leaks


@dataclass
class Kit:
    """An assembled, scanned kit: ``files`` maps a path inside the kit folder to its bytes."""

    assignment: str
    files: dict[str, bytes]
    hidden_files: int = 0
    leaks: list[Leak] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Placeholders left in the candidate's documents (not an error: the kit is still built)."""

    @property
    def ok(self) -> bool:
        return not self.leaks


def _regular_files(root: Path) -> list[Path]:
    """Regular files under ``root``, sorted; a symlink anywhere is an error (it could point anywhere)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES)
        for name in [*dirnames, *sorted(filenames)]:
            path = here / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ConfigError(
                    f"{path} is a link or special file; a kit may hold only regular files",
                    hint="Replace it with a real file or remove it.",
                )
            if stat.S_ISREG(mode) and name not in SKIP_NAMES and not name.endswith(".pyc"):
                out.append(path)
    return out


def _graders(assignment: Assignment) -> list:
    from graders.registry import default_registry

    registry = default_registry(assignment.root)
    return [registry.instantiate(g, i) for i, g in enumerate(assignment.spec.graders)]


def assemble_kit(assignment: Assignment, prepared: PreparedPaths) -> dict[str, bytes]:
    """Every file of the kit, by path inside the kit folder."""
    root, spec = assignment.root, assignment.spec
    files: dict[str, bytes] = {}
    readme = root / "README.md"
    if readme.is_file():
        files["README.md"] = readme.read_bytes()
    else:
        files["README.md"] = f"# {spec.title}\n\n{spec.description.strip()}\n".encode()
    for name in ATTRIBUTION:
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    for path in _regular_files(prepared.kit) if prepared.kit.is_dir() else []:
        files[f"{DATA_DIR}/{path.relative_to(prepared.kit).as_posix()}"] = path.read_bytes()
    starter = root / STARTER_DIR
    if starter.is_dir():
        for path in _regular_files(starter):
            files[path.relative_to(starter).as_posix()] = path.read_bytes()
    else:
        script = spec.entry.script or "predict.py"
        text = TEMPLATE.read_text(encoding="utf-8").replace("__TITLE__", spec.title).replace("__SCRIPT__", script)
        files[script] = text.encode()
    files[MANIFEST] = (
        f"# Keep this file at the root of your submission: it tells the grader which assignment it is for.\n"
        f'assignment = "{spec.id}"\n'
    ).encode()
    return files


def hidden_material(assignment: Assignment, prepared: PreparedPaths, graders: list | None = None) -> list[HiddenFile]:
    """Everything a kit must not carry: hidden data, hidden tests, canaries (reference solutions)."""
    root = assignment.root
    found: dict[Path, str] = {}
    for path in _regular_files(prepared.hidden) if prepared.hidden.is_dir() else []:
        found[path] = f"hidden/{path.relative_to(prepared.hidden).as_posix()}"
    places = [root / name for name in CONVENTIONAL_HIDDEN]
    places += [p for g in (graders if graders is not None else _graders(assignment)) for p in g.hidden_paths(root)]
    places += [root / c.path for c in assignment.spec.canaries]
    for place in places:
        paths = [place] if place.is_file() else _regular_files(place) if place.is_dir() else []
        for path in paths:
            if place.is_dir() and path.name == MANIFEST and place in [root / c.path for c in assignment.spec.canaries]:
                continue  # a canary's submission.toml is the public manifest
            found.setdefault(path, path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))
    return [HiddenFile.of(label, path.read_bytes()) for path, label in found.items()]


_PLACEHOLDER = re.compile(
    r"<[a-z][^<>:]*\s[^<>:]{8,}>"  # <name the dataset, its authors, ...>: a template's instruction (not a URL)
    r"|\b__[A-Z][A-Z0-9_]*__\b"  # __TITLE__: a template token never filled in
    r"|\b(?:TODO|FIXME|TBD)\b"
)
DOCUMENTS = ("README.md", *ATTRIBUTION)


def placeholders(files: dict[str, bytes]) -> list[str]:
    """Template placeholders left in the kit's README/NOTICE/LICENSE, as ``file:line: text``."""
    found = []
    for name in DOCUMENTS:
        if name not in files:
            continue
        text = files[name].decode("utf-8", "replace")
        line, position = 1, 0
        for match in _PLACEHOLDER.finditer(text):
            line += text.count("\n", position, match.start())
            position = match.start()
            shown = " ".join(match.group(0).split())
            found.append(f"{name}:{line}: placeholder {shown[:80]!r} was never filled in")
    return found


def public_material(prepared: PreparedPaths) -> list[bytes]:
    """What every candidate's code sees anyway (the sandbox's ``/data``)."""
    return [p.read_bytes() for p in _regular_files(prepared.inputs)] if prepared.inputs.is_dir() else []


def scan_kit(assignment: Assignment, settings: Settings, prepared: PreparedPaths | None = None) -> Kit:
    """Assemble the kit and scan it; ``Kit.leaks`` says what would leak."""
    prepared = prepared or prepare_assignment(assignment, settings)
    files = assemble_kit(assignment, prepared)
    hidden = hidden_material(assignment, prepared)
    leaks = find_leaks(files, hidden, public_material(prepared))
    return Kit(
        assignment=assignment.id, files=files, hidden_files=len(hidden), leaks=leaks, warnings=placeholders(files)
    )


def build_kit(assignment: Assignment, settings: Settings, out: Path) -> Kit:
    """Write the kit zip to ``out`` (atomically), or raise :class:`KitLeakError` and write nothing."""
    kit = scan_kit(assignment, settings)
    if kit.leaks:
        raise KitLeakError(kit.leaks)
    write_zip(kit.files, out, assignment.id)
    return kit


def write_zip(files: dict[str, bytes], out: Path, folder: str) -> None:
    """A deterministic zip (sorted names, fixed dates) of ``files`` under ``folder/``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, out)
