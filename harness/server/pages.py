"""Server-rendered pages for admins and reviewers: sign-in, rounds dashboard, a round's
leaderboard, a submission (its report plus the panel form), calibration, similarity, CSV.

Blind by default: reviewers see submissions by number, never the candidate's name or file
name, and see the other reviewers' levels only after recording their own.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server import jobqueue, service
from harness.server.db import aware, utcnow
from harness.server.models import Review, Round, Submission, UploadLink, User
from harness.server.security import SESSION_COOKIE, burn_verify, verify_password
from harness.server.web import LoginRequired, check_csrf, page_user, redirect, render, require_admin, set_session

router = APIRouter()
_REVIEW_LOCK = threading.Lock()  # one review at a time re-renders a report's files


def db_session(request: Request) -> Iterator[Session]:
    with request.app.state.db() as db:
        yield db


def _user(request: Request, db: Session):
    try:
        return page_user(request, db)
    except LoginRequired:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"}) from None


def _round(db: Session, user: User, round_id: int) -> Round:
    try:
        return service.get_round(db, user, round_id)
    except service.NotFound:
        raise HTTPException(404) from None


def _submission(db: Session, user: User, submission_id: int) -> tuple[Submission, Round]:
    try:
        return service.get_submission(db, user, submission_id)
    except service.NotFound:
        raise HTTPException(404) from None


# --- sign in / out -----------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", csrf=request.app.state.sessions.form_token("login"), next=_safe_next(next))


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.post("/login")
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form("/"),
    db: Session = Depends(db_session),
):
    state = request.app.state
    if csrf != state.sessions.form_token("login"):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")
    keys = (f"user:{name[:64]}", f"ip:{request.client.host if request.client else '-'}")
    if state.throttle.blocked(*keys):
        return render(
            request,
            "login.html",
            429,
            csrf=csrf,
            next=_safe_next(next),
            error="Too many failed sign-ins: wait 15 minutes and try again.",
        )
    user = db.scalar(select(User).where(User.name == name)) if name else None
    ok = verify_password(user.password_hash, password) if user else (burn_verify(password) or False)
    if not ok:
        state.throttle.failed(*keys)
        return render(request, "login.html", 401, csrf=csrf, next=_safe_next(next), error="Wrong name or password.")
    state.throttle.succeeded(keys[0])
    response = redirect(_safe_next(next))
    set_session(response, request, state.sessions.issue(user.id, user.session_version))
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form(""), db: Session = Depends(db_session)):
    user, session = _user(request, db)
    check_csrf(session, csrf)
    user.session_version += 1  # every cookie issued so far stops working
    db.commit()
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- rounds --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, db: Session = Depends(db_session)):
    user, session = _user(request, db)
    rounds = service.visible_rounds(db, user)
    ids = [r.id for r in rounds]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for rid, status, n in db.execute(
            select(Submission.round_id, Submission.status, func.count())
            .where(Submission.round_id.in_(ids))
            .group_by(Submission.round_id, Submission.status)
        ):
            counts[rid][status] = n
    assignments = []
    if user.role == "admin":
        from harness.assignments import list_assignments
        from harness.settings import Settings

        assignments = sorted(list_assignments(Settings.from_env()))
    return render(
        request, "dashboard.html", user=user, csrf=session.csrf, rounds=rounds, counts=counts, assignments=assignments
    )


@router.post("/rounds")
def create_round(
    request: Request,
    name: str = Form(""),
    assignment: str = Form(""),
    csrf: str = Form(""),
    db: Session = Depends(db_session),
):
    user, session = _user(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    try:
        rnd = service.create_round(db, user, name, assignment)
    except ConfigError as exc:
        raise HTTPException(400, exc.describe()) from None
    db.commit()
    return redirect(f"/rounds/{rnd.id}")


PAGE_ROWS = 100
"""Leaderboard rows per page (``?page=all`` shows every row)."""


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


@router.get("/rounds/{round_id}", response_class=HTMLResponse)
def round_page(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = _user(request, db)
    rnd = _round(db, user, round_id)
    links, candidates = [], []
    if user.role == "admin":
        links = list(db.scalars(select(UploadLink).where(UploadLink.round_id == rnd.id).order_by(UploadLink.id.desc())))
        taken = {u.id for u in service.members(db, rnd.id)}
        candidates = [u for u in db.scalars(select(User).order_by(User.name)) if u.id not in taken]
    new_link = request.query_params.get("new_link", "")
    rows = leaderboard(db, rnd, user)
    page_arg = request.query_params.get("page", "1")
    show_all = page_arg == "all"
    pages_n = max(1, -(-len(rows) // PAGE_ROWS))
    page = 1 if show_all or not page_arg.isdigit() else min(max(1, int(page_arg)), pages_n)
    shown = rows if show_all else rows[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]
    return render(
        request,
        "round.html",
        user=user,
        csrf=session.csrf,
        rnd=rnd,
        rows=shown,
        total=len(rows),
        page=page,
        pages_n=pages_n,
        page_rows=PAGE_ROWS,
        show_all=show_all,
        first_rank=1 if show_all else (page - 1) * PAGE_ROWS + 1,
        similar=similarity_flags(request.app.state.data, rnd),
        members=service.members(db, rnd.id),
        links=links,
        candidates=candidates,
        now=utcnow(),
        aware=aware,
        new_link=new_link if new_link.startswith(str(request.base_url)) else "",
    )


@router.post("/rounds/{round_id}/members")
def add_member(
    round_id: int, request: Request, name: str = Form(""), csrf: str = Form(""), db: Session = Depends(db_session)
):
    user, session = _user(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    try:
        service.add_member(db, _round(db, user, round_id), name)
    except ConfigError as exc:
        raise HTTPException(400, exc.describe()) from None
    db.commit()
    return redirect(f"/rounds/{round_id}")


@router.post("/rounds/{round_id}/links")
def create_link(
    round_id: int,
    request: Request,
    label: str = Form(""),
    uses: int = Form(1),
    days: float = Form(7),
    csrf: str = Form(""),
    db: Session = Depends(db_session),
):
    user, session = _user(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    token = service.create_upload_link(db, user, _round(db, user, round_id), label, uses, days)
    db.commit()
    from urllib.parse import quote

    url = f"{request.base_url}u/{token}"
    return redirect(f"/rounds/{round_id}?new_link={quote(url, safe='')}#links")


@router.get("/rounds/{round_id}/export.csv")
def export_csv(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, _ = _user(request, db)
    rnd = _round(db, user, round_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "submission",
            "status",
            "score",
            "final_score",
            "reviews",
            "reviews_required",
            "overdue",
            "sha256",
            "received_at",
            "graded_at",
        ]
    )
    for row in leaderboard(db, rnd, user):
        sub = row["sub"]
        writer.writerow(
            [
                sub.id,
                sub.status,
                _num(sub.score),
                _num(sub.final_score),
                row["reviews"],
                rnd.required_reviewers,
                "yes" if row["overdue"] else "",
                sub.sha256,
                _iso(sub.created_at),
                _iso(sub.graded_at),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="round-{rnd.id}.csv"'},
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _iso(moment) -> str:
    return aware(moment).isoformat(timespec="seconds") if moment else ""


@router.get("/rounds/{round_id}/calibration", response_class=HTMLResponse)
def calibration(round_id: int, request: Request, db: Session = Depends(db_session)):
    from harness.panel.calibration import calibrate_round

    user, session = _user(request, db)
    rnd = _round(db, user, round_id)
    data, problem = None, ""
    try:
        data = calibrate_round(request.app.state.data.round_dir(rnd.id), samples=500)
    except ConfigError as exc:
        problem = exc.message
    return render(
        request,
        "calibration.html",
        user=user,
        csrf=session.csrf,
        rnd=rnd,
        data=data,
        problem=problem,
        disagreements=_disagreements(db, rnd),
    )


def _disagreements(db: Session, rnd: Round) -> list[dict]:
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


@router.get("/rounds/{round_id}/similarity", response_class=HTMLResponse)
def similarity(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = _user(request, db)
    rnd = _round(db, user, round_id)
    pairs = round_similarity(request.app.state.data, db, rnd)
    return render(
        request, "similarity.html", user=user, csrf=session.csrf, rnd=rnd, pairs=pairs, problem="", flag=SIMILAR_FLAG
    )


# --- a submission --------------------------------------------------------------------------


def _report(request: Request, sub: Submission):
    from harness.panel.scorecard import read_report

    try:
        return read_report(request.app.state.data.report_dir(sub.round_id, sub.id))
    except ConfigError:
        return None


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = _user(request, db)
    sub, rnd = _submission(db, user, submission_id)
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
    user, _ = _user(request, db)
    sub, _ = _submission(db, user, submission_id)
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
        user, session = _user(request, db)
        check_csrf(session, form.get("csrf"))
        sub, rnd = _submission(db, user, submission_id)
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
    user, session = _user(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    _submission(db, user, submission_id)
    if jobqueue.requeue(request.app.state.engine, submission_id):
        request.app.state.queue.notify()
    return redirect(f"/submissions/{submission_id}")


@router.get("/static/style.css")
def stylesheet():
    from pathlib import Path

    css = (Path(__file__).parent / "templates" / "style.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})
