"""What a round's pages compute: the leaderboard rows, reviewers' disagreements, and the
similarity comparison with the flags it puts on the leaderboard (no routes here)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harness.server.db import aware, utcnow
from harness.server.models import Review, Round, Submission, User


def leaderboard(db: Session, rnd: Round, user: User) -> list[dict]:
    """One row per submission: status, score, panel progress, overdue (two queries)."""
    reviews = dict(
        db.execute(
            select(Review.submission_id, func.count())
            .join(Submission, Submission.id == Review.submission_id)
            .where(Submission.round_id == rnd.id)
            .group_by(Review.submission_id)
        ).all()
    )
    mine = set(
        db.scalars(
            select(Review.submission_id)
            .join(Submission, Submission.id == Review.submission_id)
            .where(Submission.round_id == rnd.id, Review.reviewer_id == user.id)
        )
    )
    now, target = utcnow(), timedelta(hours=rnd.target_hours)
    rows = []
    columns = (
        Submission.id,
        Submission.status,
        Submission.score,
        Submission.final_score,
        Submission.graded_at,
        Submission.sha256,
        Submission.created_at,
    )
    for sub in db.execute(select(*columns).where(Submission.round_id == rnd.id)):  # plain rows: no ORM identity map
        done = reviews.get(sub.id, 0)
        overdue = bool(
            sub.status == "graded"
            and done < rnd.required_reviewers
            and sub.graded_at
            and aware(sub.graded_at) + target < now
        )
        rows.append(
            {
                "sub": sub,
                "reviews": done,
                "mine": sub.id in mine,
                "overdue": overdue,
                "score": "–" if sub.score is None else f"{sub.score:.1f}",
                "final": "–" if sub.final_score is None else f"{sub.final_score:.1f}",
            }
        )
    rows.sort(
        key=lambda r: (
            r["sub"].final_score is None and r["sub"].score is None,
            -(r["sub"].final_score if r["sub"].final_score is not None else r["sub"].score or 0),
            r["sub"].id,
        )
    )
    return rows


def disagreements(db: Session, rnd: Round) -> list[dict]:
    """Submissions where two reviewers are two or more levels apart on a criterion."""
    found: dict[tuple[int, str], dict[str, int]] = {}
    rows = db.execute(
        select(Review.submission_id, User.name, Review.levels)
        .join(User, User.id == Review.reviewer_id)
        .join(Submission, Submission.id == Review.submission_id)
        .where(Submission.round_id == rnd.id)
    )
    for sid, name, levels in rows:
        for cid, level in (levels or {}).items():
            found.setdefault((sid, cid), {})[name] = level
    return [
        {"submission": sid, "criterion": cid, "levels": levels}
        for (sid, cid), levels in sorted(found.items())
        if len(levels) >= 2 and max(levels.values()) - min(levels.values()) >= 2
    ]


SIMILAR_FLAG = 0.5
"""A leaderboard row is flagged when its most similar submission scores at least this (Dice)."""


def round_similarity(data, db: Session, rnd: Round) -> list[dict]:
    """The panel's winnowing comparison over the round's readable uploads (submission ids as
    names), cached in the round folder's ``similarity.json`` until the set of submissions changes."""
    from harness.panel import similarity as sim
    from harness.reports.write import write_atomic
    from harness.safeio import UntrustedDataError, read_json

    rows = db.execute(
        select(Submission.id, Submission.sha256, Submission.filename)
        .where(Submission.round_id == rnd.id, Submission.status != "rejected")
        .order_by(Submission.id)
    ).all()
    ids = [r.id for r in rows]
    path = data.round_dir(rnd.id) / sim.SIMILARITY_FILE
    try:
        cached = read_json(path, max_bytes=32 * 2**20)
        if isinstance(cached, dict) and cached.get("submission_ids") == ids:
            return list(cached.get("pairs") or [])
    except UntrustedDataError:
        pass
    sources = {str(r.id): sim.load_code(data.upload_path(r.sha256, r.filename)) for r in rows}
    starter = sim.starter_code(rnd.assignment)
    pairs, _ = sim.similarity(sources, starter, top=200)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        path,
        json.dumps(
            {
                "schema_version": "1",
                "k": sim.K,
                "window": sim.WINDOW,
                "submissions": len(ids),
                "boilerplate": "starter" if starter else None,
                "missing": [],
                "pairs": pairs,
                "submission_ids": ids,
            }
        ),
    )
    return pairs


def similarity_flags(data, rnd: Round) -> dict[int, str]:
    """Submission id -> "similar to #X (0.83)" from the cached comparison, at or above the flag."""
    from harness.panel.similarity import most_similar_by_slug

    flags = {}
    for slug, text in most_similar_by_slug(data.round_dir(rnd.id)).items():
        other, _, score = text.removeprefix("most similar: ").rpartition(", ")
        try:
            if slug.isdigit() and float(score) >= SIMILAR_FLAG:
                flags[int(slug)] = f"similar to #{other} ({float(score):.2f})"
        except ValueError:
            continue
    return flags
