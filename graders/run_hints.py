"""Plain-words explanations of failures that come from the sandbox itself: no network, no
run-time ``pip install``, NLTK data that is not there. Read from the run's captured output
(untrusted text: only short, pattern-limited names are quoted back)."""

from __future__ import annotations

import re

from harness.models import Level, Message

_NETWORK_SIGNS = (
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Name or service not known",
)
_PIP_SIGNS = ("Could not find a version that satisfies the requirement", "PIP_NO_INDEX", "--no-index")

_ANSI = r"(?:\x1b\[[0-9;]*m)?"
_NAME = r"[\w./-]{1,120}?"
# Every nltk's wording: 3.2-3.9 ``Resource \x1b[93mstopwords\x1b[0m not found.`` (colour codes
# optional), older ``Resource 'corpora/stopwords' not found.``, 3.10 ``Resource 'stopwords' not
# found.`` and ``Resource entry 'corpora/x/y' not found in installed package 'x'``.
_NLTK_MISSING = re.compile(
    rf"Resource (?P<entry>entry )?['\"]?{_ANSI}(?P<name>{_NAME}){_ANSI}['\"]? not found"
    rf"(?: in installed package ['\"]?(?P<package>{_NAME})['\"]?[.\s])?"
)
_NLTK_ATTEMPTED = re.compile(rf"Attempted to load ['\"]?{_ANSI}(?P<path>{_NAME}){_ANSI}['\"]?\s*$", re.MULTILINE)
_NLTK_DOWNLOAD_FAILED = re.compile(rf"^\[nltk_data\] Error loading (?P<name>{_NAME}):", re.MULTILINE)
_NLTK_LINE = re.compile(r"^\[nltk_data\].*$", re.MULTILINE)


def blocked_resources(text: str, source: str) -> list[Message]:
    """The messages for ``text`` (the run's stdout and stderr)."""
    found = []
    missing = nltk_missing(text)
    # nltk.download()'s own "[nltk_data] Error loading x: <urlopen error ...>" lines are NLTK's
    # business (below), not a sign that the code itself reached for the network.
    if any(sign in _NLTK_LINE.sub("", text) for sign in _NETWORK_SIGNS):
        found.append(
            Message(
                code="network_blocked",
                text="The code tried to reach the network; the sandbox has no network access, "
                "so downloads (datasets, models, NLTK data) fail. Ship what you need with the submission.",
                level=Level.WARNING,
                source=source,
            )
        )
    for name, path in missing[:3]:
        found.append(Message(code="nltk_resource_missing", text=_nltk_text(name, path), source=source))
    failed = sorted({m["name"] for m in _NLTK_DOWNLOAD_FAILED.finditer(text)} - {n for n, _ in missing})
    if failed and not missing:
        names = ", ".join(f"nltk.download({n!r})" for n in failed[:3])
        found.append(
            Message(
                code="nltk_download_offline",
                text=f"{names} could not download anything: the sandbox has no network. The code went on, "
                "and NLTK found what it needed locally (shipped in nltk_data/ or provided by the assignment).",
                level=Level.INFO,
                source=source,
            )
        )
    if any(sign in text for sign in _PIP_SIGNS):
        found.append(
            Message(
                code="pip_install_blocked",
                text="The code tried to install packages at run time, which cannot work without network. "
                "Declare dependencies in requirements.txt instead.",
                level=Level.WARNING,
                source=source,
            )
        )
    return found


def nltk_missing(text: str) -> list[tuple[str, str | None]]:
    """``(package, path it was loaded as)`` for each NLTK resource the run could not find, in
    order, each once: ``("stopwords", "corpora/stopwords")``."""
    seen: dict[str, str | None] = {}
    for match in _NLTK_MISSING.finditer(text):
        name = match["package"] or match["name"]
        path = match["name"] if match["entry"] else None
        if path is None:
            attempted = _NLTK_ATTEMPTED.search(text, match.end(), match.end() + 4000)
            path = attempted["path"] if attempted else None
        if "/" in name and not match["entry"]:  # the old wording names the path: corpora/stopwords
            path, name = path or name, name.rstrip("/").split("/")[1 if name.count("/") else 0]
        name = name.removesuffix(".zip")
        if name not in seen or seen[name] is None:
            seen[name] = path
    return list(seen.items())


def _nltk_text(name: str, path: str | None) -> str:
    where = _nltk_folder(path) or f"the folder nltk.download({name!r}) creates"
    return (
        f"The NLTK resource {name!r} was not found, so the code failed where it needed it. This is not a "
        "network problem to fix: the sandbox has no network by design, so nltk.download() cannot fetch it "
        "there. Two ways to fix it: ship the data with your submission under nltk_data/ "
        f"(nltk_data/{where}, which nltk.download({name!r}, download_dir='nltk_data') writes; the sandbox's "
        "NLTK_DATA includes that folder), or ask the assignment's author to provide it as one of the "
        "assignment's resources."
    )


def _nltk_folder(path: str | None) -> str | None:
    """``corpora/stopwords/`` from a loaded path such as ``corpora/stopwords/english``."""
    if not path:
        return None
    parts = [p.removesuffix(".zip") for p in path.strip("/").split("/") if p]
    if len(parts) < 2:
        return None
    return "/".join(parts[:2]) + "/"
