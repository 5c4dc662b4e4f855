"""The secret scan's patterns, read as text (never echoed): private keys, cloud and API tokens,
hard-coded credentials. :func:`find_secrets` finds them with line numbers in linear time;
:func:`redact` hides them in code shown to reviewers. :func:`graders.habits.secrets_signal`
turns a submission's findings into the ``no_secrets`` habit.
"""

from __future__ import annotations

import re

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    # OpenAI (``sk-proj-``, ``sk-svcacct-``, ``sk-admin-``, legacy ``sk-`` + 48 letters and digits)
    # and Anthropic (``sk-ant-api03-``) keys. A bare ``sk-`` needs an unbroken run of 32+ letters
    # and digits, so scikit-learn's HTML classes (``sk-toggleable__label-arrow``,
    # ``sk-container-id-1``) never match; :func:`_looks_random` then drops word-like and
    # single-case (hex hash) bodies.
    (
        "OpenAI-style API key",
        re.compile(
            r"\bsk-(?:(?:proj|svcacct|admin|ant-(?:api|admin)\d\d)-([A-Za-z0-9_-]{20,})|([A-Za-z0-9]{32,}))(?![\w-])"
        ),
    ),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    (
        "hard-coded credential",
        re.compile(
            r"""(?i)(?:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|password|passwd)"""
            r"""["']?\s*[:=]\s*["']([^"'\s]{8,})["']"""
        ),
    ),
)
SECRET_FILES = re.compile(
    r"^(\.env(\.\w+)?|id_rsa|id_dsa|id_ecdsa|id_ed25519|\.netrc|\.pypirc|.*\.pem|.*\.p12|.*\.pfx)$"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(x+|\*+|\.+|<.*>|\{.*\}|\$\{?\w+\}?|your[\w-]*|changeme|example\w*|dummy\w*|test\w*|placeholder\w*)$"
)
TEXT_SUFFIXES = frozenset(
    {
        ".py",
        ".ipynb",
        ".txt",
        ".md",
        ".cfg",
        ".ini",
        ".toml",
        ".yml",
        ".yaml",
        ".json",
        ".env",
        ".sh",
        ".rst",
        ".conf",
        ".pem",
        ".key",
        "",
    }
)


MAX_SECRET_HITS_PER_FILE = 20
"""A file stops being scanned after this many likely secrets: one is enough to fail the habit."""
MAX_SECRET_HITS = 100
"""The whole scan stops after this many."""
MAX_SECRET_SCAN_BYTES = 32 * 2**20
"""At most this much text is scanned in all (each file at most ``max_bytes``): the scan is linear
in what it reads, so this bounds its time whatever the submission holds."""


def _env_has_values(text: str) -> bool:
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        value = value.strip().strip("'\"")
        if sep and key.strip() and not key.strip().startswith("#") and value and not _PLACEHOLDER.match(value):
            return True
    return False


def find_secrets(text: str, *, limit: int | None = None) -> list[tuple[int, str]]:
    """(line, kind) of each likely secret in ``text``; placeholders such as ``"your-api-key"`` are skipped.

    Linear in ``len(text)``: line numbers are counted forward from the previous match (never
    again from the start of the text), and the scan stops after ``limit`` findings.
    """
    found: set[tuple[int, str]] = set()
    for kind, pattern in SECRET_PATTERNS:
        line, counted_to = 1, 0
        for match in pattern.finditer(text):
            if not _plausible(kind, match):
                continue
            line += text.count("\n", counted_to, match.start())
            counted_to = match.start()
            found.add((line, kind))
            if limit is not None and len(found) >= limit:
                return sorted(found)
    return sorted(found)


def redact(text: str) -> str:
    """``text`` with every likely secret replaced by ``«redacted»`` (for code shown in reports)."""
    for kind, pattern in SECRET_PATTERNS:
        if kind == "hard-coded credential":
            text = pattern.sub(
                lambda m: m.group(0).replace(m.group(1), "«redacted»") if _looks_secret(m.group(1)) else m.group(0),
                text,
            )
        else:
            text = pattern.sub(lambda m, kind=kind: "«redacted»" if _plausible(kind, m) else m.group(0), text)
    return text


def _plausible(kind: str, match: re.Match[str]) -> bool:
    """Whether a pattern's match is worth an alarm: credentials must look secret, API keys random."""
    if kind == "hard-coded credential":
        return _looks_secret(match.group(1))
    if kind == "OpenAI-style API key":
        return _looks_random(next(g for g in match.groups() if g is not None))
    return True


def _looks_random(body: str) -> bool:
    """A key body drawn at random: upper- and lower-case letters and digits, and no run of 12 or
    more lower-case letters (a word); hex hashes (one case) and CSS class names fail."""
    return (
        any(c.isupper() for c in body)
        and any(c.islower() for c in body)
        and any(c.isdigit() for c in body)
        and not re.search(r"[a-z]{12,}", body)
    )


def _looks_secret(value: str) -> bool:
    if _PLACEHOLDER.match(value) or value.startswith(("http://", "https://", "os.environ", "/")):
        return False
    return bool(re.search(r"[A-Za-z]", value)) and bool(re.search(r"\d", value)) and len(set(value)) >= 6
