"""The JSON API for CI and scripts (Bearer token), and ``/healthz``."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server import service
from harness.server.models import Submission, User
from harness.server.storage import UploadError, receive_upload

router = APIRouter()


def db_session(request: Request) -> Iterator[Session]:
    with request.app.state.db() as db:
        yield db


def api_user(request: Request, db: Session = Depends(db_session)) -> User:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    user = service.user_for_token(db, token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise HTTPException(
            401,
            "a valid API token is required (Authorization: Bearer TOKEN; grade admin create-token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


class RoundIn(BaseModel):
    assignment: str
    name: str
    reviewers: list[str] = []


@router.get("/healthz")
def healthz(request: Request) -> dict:
    with request.app.state.engine.connect() as conn:
        queued = conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'queued'")).scalar_one()
    return {"ok": True, "queued": queued}


@router.post("/api/rounds", status_code=201)
def create_round(body: RoundIn, user: User = Depends(api_user), db: Session = Depends(db_session)) -> dict:
    try:
        rnd = service.create_round(db, user, body.name, body.assignment)
        for name in body.reviewers:
            service.add_member(db, rnd, name)
    except service.Forbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except ConfigError as exc:
        raise HTTPException(400, exc.describe()) from None
    db.commit()
    return {"id": rnd.id}


@router.post("/api/rounds/{round_id}/submissions", status_code=202)
async def upload(round_id: int, request: Request) -> JSONResponse:
    state = request.app.state

    def authorise() -> None:
        with state.db() as db:
            user = api_user(request, db)
            try:
                service.get_round(db, user, round_id)
            except service.NotFound:
                raise HTTPException(404, "no such round") from None

    await run_in_threadpool(authorise)  # before a byte of the body is read
    limit = state.config.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise HTTPException(413, f"upload larger than {state.config.max_upload_mb} MB")
    try:
        received = await receive_upload(
            request.headers.get("content-type", ""), request.stream(), state.data, max_bytes=limit
        )
    except UploadError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None

    def store():
        with state.db() as db:
            sub, duplicate = service.store_submission(db, state.data, round_id, received)
            db.commit()
            return sub, duplicate

    sub, duplicate = await run_in_threadpool(store)
    if not duplicate:
        state.queue.notify()
    return JSONResponse(
        {"id": sub.id, "status_url": f"/api/submissions/{sub.id}", "sha256": sub.sha256, "duplicate": duplicate},
        status_code=202,
    )


def _submission(db: Session, user: User, submission_id: int) -> Submission:
    try:
        return service.get_submission(db, user, submission_id)[0]
    except service.NotFound:
        raise HTTPException(404, "no such submission") from None


def submission_view(sub: Submission) -> dict:
    done = sub.status in ("graded", "rejected", "needs_review")
    return {
        "id": sub.id,
        "round": sub.round_id,
        "status": sub.status,
        "score": sub.score,
        "sha256": sub.sha256,
        "size_bytes": sub.size_bytes,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "graded_at": sub.graded_at.isoformat() if sub.graded_at else None,
        "error": sub.error or None,
        "report_url": f"/api/submissions/{sub.id}/report.json" if done else None,
    }


@router.get("/api/submissions/{submission_id}")
def get_submission(submission_id: int, user: User = Depends(api_user), db: Session = Depends(db_session)) -> dict:
    return submission_view(_submission(db, user, submission_id))


@router.get("/api/submissions/{submission_id}/report.json")
def get_report(submission_id: int, request: Request, user: User = Depends(api_user), db: Session = Depends(db_session)):
    sub = _submission(db, user, submission_id)
    path = request.app.state.data.report_dir(sub.round_id, sub.id) / "report.json"
    if not path.is_file():
        raise HTTPException(404, f"no report yet (status: {sub.status})")
    return FileResponse(path, media_type="application/json")
