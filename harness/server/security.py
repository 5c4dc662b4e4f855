"""Passwords (argon2), API and upload-link tokens (random, stored as sha256), signed session
cookies with a CSRF secret inside, and login throttling."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

_HASHER = PasswordHasher()
SESSION_COOKIE = "holdout_session"
SESSION_MAX_AGE_S = 12 * 3600


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def burn_verify(password: str) -> None:
    """Spend what a real check costs, so an unknown user name answers as slowly as a known one."""
    verify_password(_DUMMY_HASH, password)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits: a plain sha256 is enough to store them (no salt needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def load_secret_key(data_dir: Path) -> str:
    """``GRADE_SERVER_SECRET``, or a key kept in the data directory (created once, mode 0600)."""
    if os.environ.get("GRADE_SERVER_SECRET"):
        return os.environ["GRADE_SERVER_SECRET"]
    path = data_dir / "secret.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = new_secret(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
        return key


@dataclass
class SessionData:
    user_id: int
    version: int
    csrf: str


class Sessions:
    """Session cookies: signed (HMAC) and timestamped; hold user id, session version, CSRF secret."""

    def __init__(self, secret: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="holdout-session")
        self._secret = secret.encode()

    def issue(self, user_id: int, version: int) -> str:
        return self._signer.dumps({"u": user_id, "v": version, "c": new_secret(24)})

    def read(self, cookie: str | None) -> SessionData | None:
        if not cookie or len(cookie) > 4096:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE_S)
            return SessionData(int(data["u"]), int(data["v"]), str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def form_token(self, purpose: str) -> str:
        """A CSRF token for a page with no session (a candidate's upload link): bound to it."""
        return hmac.new(self._secret, f"form:{purpose}".encode(), hashlib.sha256).hexdigest()


def same_token(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class LoginThrottle:
    """At most ``limit`` failed logins per user name and per client address in ``window_s``;
    beyond that every attempt is refused (even with the right password) until the window moves."""

    def __init__(self, limit: int = 5, window_s: float = 900) -> None:
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._failures[key]
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        return hits

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)
