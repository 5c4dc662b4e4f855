"""A submission's pages: the report beside the panel form, the report frame, recording a
review, and an admin's regrade.

Blind by default: reviewers see submissions by number, never the candidate's name or file
name, and see the other reviewers' levels only after recording their own.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server import jobqueue
from harness.server.db import utcnow
from harness.server.models import Review, Submission, User
from harness.server.web import check_csrf, db_session, redirect, render, require_admin, signed_in, submission_or_404

router = APIRouter()
_REVIEW_LOCK = threading.Lock()  # one review at a time re-renders a report's files


def _report(request: Request, sub: Submission):
    from harness.panel.scorecard import read_report

    try:
        return read_report(request.app.state.data.report_dir(sub.round_id, sub.id))
    except ConfigError:
        return None


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = signed_in(request, db)
    sub, rnd = submission_or_404(db, user, submission_id)
    report = _report(request, sub)
    criteria = [c for c in report.criteria if c.kind == "human"] if report else []
    reviews = list(
        db.execute(
            select(Review, User.name)
            .join(User, User.id == Review.reviewer_id)
            .where(Review.submission_id == sub.id)
            .order_by(User.name)
        )
    )
    mine = next((r for r, name in reviews if r.reviewer_id == user.id), None)
    show_others = mine is not None or user.role == "admin"
    unblind = user.role == "admin" and request.query_params.get("unblind") == "1"
    return render(
        request,
        "submission.html",
        user=user,
        csrf=session.csrf,
        sub=sub,
        rnd=rnd,
        report=report,
        criteria=criteria,
        mine=mine,
        reviews=reviews if show_others else [],
        hidden=0 if show_others else len(reviews),
        unblind=unblind,
        saved=request.query_params.get("saved") == "1",
    )


REPORT_FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox"
)


@router.get("/submissions/{submission_id}/report.html")
def report_html(submission_id: int, request: Request, db: Session = Depends(db_session)):
    """The report page as ``grade`` wrote it, with its own CSP (no scripts, sandboxed, framable
    by our own pages only); blind to other reviewers' levels until the viewer has scored."""
    user, _ = signed_in(request, db)
    sub, _ = submission_or_404(db, user, submission_id)
    headers = {"Content-Security-Policy": REPORT_FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"}
    folder = request.app.state.data.report_dir(sub.round_id, sub.id)
    if not (folder / "report.html").is_file():
        return PlainTextResponse(f"no report yet (status: {sub.status})", status_code=404, headers=headers)
    scored = db.scalar(select(Review.id).where(Review.submission_id == sub.id, Review.reviewer_id == user.id))
    report = _report(request, sub)
    if (
        user.role != "admin"
        and not scored
        and report is not None
        and report.panel is not None
        and report.panel.reviewers
    ):
        from harness.reports.html import render_html

        return HTMLResponse(render_html(report.model_copy(update={"panel": None})), headers=headers)
    return FileResponse(folder / "report.html", media_type="text/html; charset=utf-8", headers=headers)


@router.post("/submissions/{submission_id}/review")
async def record_review(submission_id: int, request: Request):
    form = await request.form()
    return await run_in_threadpool(_record_review, submission_id, request, dict(form))


def _record_review(submission_id: int, request: Request, form: dict) -> Response:
    from harness.panel.reviews import RECOMMENDATIONS, write_review
    from harness.panel.reviews import Review as PanelReview
    from harness.panel.scorecard import refresh_panel

    with request.app.state.db() as db:
        user, session = signed_in(request, db)
        check_csrf(session, form.get("csrf"))
        sub, rnd = submission_or_404(db, user, submission_id)
        report = _report(request, sub)
        criteria = {c.id: c.title for c in report.criteria if c.kind == "human"} if report else {}
        if not criteria:
            raise HTTPException(409, "this submission has no report with panel criteria yet")
        levels, comments = {}, {}
        for cid in criteria:
            raw = str(form.get(f"level_{cid}", "")).strip()
            if raw:
                if raw not in ("1", "2", "3", "4", "5"):
                    raise HTTPException(400, f"level for {cid} must be 1-5")
                levels[cid] = int(raw)
            note = str(form.get(f"comment_{cid}", "")).strip()
            if note:
                comments[cid] = note[:4000]
        recommendation = str(form.get("recommendation", "")) or None
        if recommendation is not None and recommendation not in RECOMMENDATIONS:
            raise HTTPException(400, "unknown recommendation")
        if not levels:
            raise HTTPException(400, "give a level for at least one criterion")
        row = db.scalar(select(Review).where(Review.submission_id == sub.id, Review.reviewer_id == user.id))
        if row is None:
            row = Review(submission_id=sub.id, reviewer_id=user.id)
            db.add(row)
        row.levels, row.comments, row.recommendation, row.updated_at = levels, comments, recommendation or "", utcnow()
        folder = request.app.state.data.report_dir(sub.round_id, sub.id)
        with _REVIEW_LOCK:  # the files are the panel library's; the database mirrors them for the pages
            write_review(
                folder,
                PanelReview(
                    reviewer=user.name,
                    levels=levels,
                    comments=comments,
                    recommendation=recommendation,
                    submission_sha256=sub.sha256,
                ),
            )
            updated = refresh_panel(folder, assignment=rnd.assignment)
        sub.final_score = updated.panel.final_score if updated.panel else None
        db.commit()
    return redirect(f"/submissions/{submission_id}?saved=1")


@router.post("/submissions/{submission_id}/regrade")
def regrade(submission_id: int, request: Request, csrf: str = Form(""), db: Session = Depends(db_session)):
    user, session = signed_in(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    submission_or_404(db, user, submission_id)
    if jobqueue.requeue(request.app.state.engine, submission_id):
        request.app.state.queue.notify()
    return redirect(f"/submissions/{submission_id}")
