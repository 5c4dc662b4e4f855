"""The optional webhook: a JSON POST when a submission is graded, signed with HMAC-SHA256.

Header ``X-Holdout-Signature: sha256=<hex>`` over the exact body, keyed with the configured
secret (``GRADE_WEBHOOK_SECRET``); a receiver recomputes it and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from sqlalchemy import text

log = logging.getLogger("harness.server")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_graded(url: str, secret: str | None, engine, submission_id: int, *, timeout_s: float = 5) -> int | None:
    import httpx

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, round_id, status, score, sha256 FROM submissions WHERE id = :s"), {"s": submission_id}
        ).one()
    body = json.dumps(
        {
            "event": "submission.graded",
            "id": row.id,
            "round": row.round_id,
            "status": row.status,
            "score": row.score,
            "sha256": row.sha256,
        },
        sort_keys=True,
    ).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Holdout-Signature"] = signature(secret, body)
    try:
        return httpx.post(url, content=body, headers=headers, timeout=timeout_s).status_code
    except httpx.HTTPError as exc:
        log.warning("webhook to %s failed: %s", url, exc)
        return None
