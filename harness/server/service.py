"""What the API, the pages and ``grade admin`` do to the database, in one place: people,
tokens, rounds, upload links, storing an upload as a submission, and who may see what."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server import jobqueue
from harness.server.db import aware, utcnow
from harness.server.models import ROLES, ApiToken, Round, RoundMember, Submission, UploadLink, User
from harness.server.security import hash_password, new_secret, token_hash
from harness.server.storage import DataDir, Upload


class NotFound(Exception):
    """Absent, or not yours to see: both answer 404, so ids of other rounds leak nothing."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this (a reviewer creating a round)."""


def create_user(db: Session, name: str, role: str, password: str | None = None) -> tuple[User, str]:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"Use one of: {', '.join(ROLES)}.")
    from harness.panel.reviews import check_reviewer

    check_reviewer(name)  # user names become review file names
    if db.scalar(select(User).where(User.name == name)):
        raise ConfigError(f"user {name!r} already exists")
    password = password or new_secret(12)
    user = User(name=name, role=role, password_hash=hash_password(password), session_version=1)
    db.add(user)
    db.flush()
    return user, password


def create_token(db: Session, user_name: str) -> str:
    user = db.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise ConfigError(f"no user {user_name!r}", hint="Create one first: grade admin create-user NAME --role admin.")
    token = "hd_" + new_secret(32)
    db.add(ApiToken(user_id=user.id, token_hash=token_hash(token)))
    return token


def user_for_token(db: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    return db.get(User, row.user_id) if row else None


def create_round(db: Session, user: User, name: str, assignment: str, settings=None) -> Round:
    from harness.assignments import find_assignment
    from harness.settings import Settings

    if user.role != "admin":
        raise Forbidden("only an admin creates rounds")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ConfigError("a round needs a name (200 characters at most)")
    panel = find_assignment(assignment, settings or Settings.from_env(), allow_path=False).spec.panel  # unknown: 400
    rnd = Round(name=name, assignment=assignment, required_reviewers=panel.reviewers, target_hours=panel.target_hours)
    db.add(rnd)
    db.flush()
    return rnd


def add_member(db: Session, rnd: Round, user_name: str) -> None:
    user = db.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise ConfigError(f"no user {user_name!r}")
    if not db.scalar(select(RoundMember).where(RoundMember.round_id == rnd.id, RoundMember.user_id == user.id)):
        db.add(RoundMember(round_id=rnd.id, user_id=user.id))


def members(db: Session, round_id: int) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .join(RoundMember, RoundMember.user_id == User.id)
            .where(RoundMember.round_id == round_id)
            .order_by(User.name)
        )
    )


def visible_rounds(db: Session, user: User) -> list[Round]:
    query = select(Round).order_by(Round.id.desc())
    if user.role != "admin":
        query = query.join(RoundMember, RoundMember.round_id == Round.id).where(RoundMember.user_id == user.id)
    return list(db.scalars(query))


def get_round(db: Session, user: User, round_id: int) -> Round:
    rnd = db.get(Round, round_id)
    if rnd is None:
        raise NotFound()
    if user.role != "admin" and not db.scalar(
        select(RoundMember).where(RoundMember.round_id == round_id, RoundMember.user_id == user.id)
    ):
        raise NotFound()
    return rnd


def get_submission(db: Session, user: User, submission_id: int) -> tuple[Submission, Round]:
    sub = db.get(Submission, submission_id)
    if sub is None:
        raise NotFound()
    return sub, get_round(db, user, sub.round_id)


def create_upload_link(db: Session, user: User, rnd: Round, label: str, uses: int = 1, days: float = 7) -> str:
    if user.role != "admin":
        raise Forbidden("only an admin creates upload links")
    token = new_secret(24)
    db.add(
        UploadLink(
            round_id=rnd.id,
            token_hash=token_hash(token),
            label=label.strip()[:200],
            uses_left=max(1, min(int(uses), 100)),
            expires_at=utcnow() + timedelta(days=max(0.01, min(days, 90))),
        )
    )
    return token


def link_for_token(db: Session, token: str) -> UploadLink | None:
    """The link if it exists and has not expired (used-up links still show their receipts)."""
    if not token or len(token) > 200:
        return None
    link = db.scalar(select(UploadLink).where(UploadLink.token_hash == token_hash(token)))
    if link is None or aware(link.expires_at) <= utcnow():
        return None
    return link


def store_submission(
    db: Session, data: DataDir, round_id: int, upload: Upload, *, link: UploadLink | None = None
) -> tuple[Submission, bool]:
    """One submission per (round, sha256): a repeat returns the first and queues nothing.
    Through an upload link, a new submission spends one use (refused when none is left)."""
    existing = db.scalar(select(Submission).where(Submission.round_id == round_id, Submission.sha256 == upload.sha256))
    if existing is not None:
        _discard(upload)
        return existing, True
    if link is not None:
        spent = (
            db.query(UploadLink)
            .filter(UploadLink.id == link.id, UploadLink.uses_left > 0)
            .update({UploadLink.uses_left: UploadLink.uses_left - 1})
        )
        if not spent:
            _discard(upload)
            raise Forbidden("this upload link has been used")
    sub = Submission(
        round_id=round_id,
        sha256=upload.sha256,
        size_bytes=upload.size_bytes,
        filename=upload.filename,
        label=link.label if link else "",
        upload_link_id=link.id if link else None,
        status="queued",
        error="",
    )
    db.add(sub)
    try:
        db.flush()
    except IntegrityError:  # the same bytes arrived concurrently (PostgreSQL): the first one wins
        db.rollback()
        _discard(upload)
        return db.scalar(
            select(Submission).where(Submission.round_id == round_id, Submission.sha256 == upload.sha256)
        ), True
    data.keep(upload)
    jobqueue.enqueue(db.connection(), sub.id)
    return sub, False


def _discard(upload: Upload) -> None:
    try:
        os.unlink(upload.path)
    except FileNotFoundError:
        pass


def queue_counts(db: Session) -> dict[str, int]:
    return dict(db.execute(select(Submission.status, func.count()).group_by(Submission.status)).all())
