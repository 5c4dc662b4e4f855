"""Server-rendered pages for admins and reviewers: sign-in, rounds dashboard, a round's
leaderboard, and the routers of a round's side pages (:mod:`pages_round`) and of a
submission (:mod:`pages_submission`).

Blind by default: reviewers see submissions by number, never the candidate's name or file
name, and see the other reviewers' levels only after recording their own.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server import pages_round, pages_submission, service
from harness.server.board import leaderboard, similarity_flags
from harness.server.db import aware, utcnow
from harness.server.models import Submission, UploadLink, User
from harness.server.security import SESSION_COOKIE, burn_verify, verify_password
from harness.server.web import (
    check_csrf,
    db_session,
    redirect,
    render,
    require_admin,
    round_or_404,
    set_session,
    signed_in,
)

router = APIRouter()


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
    user, session = signed_in(request, db)
    check_csrf(session, csrf)
    user.session_version += 1  # every cookie issued so far stops working
    db.commit()
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- rounds --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, db: Session = Depends(db_session)):
    user, session = signed_in(request, db)
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
    user, session = signed_in(request, db)
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


@router.get("/rounds/{round_id}", response_class=HTMLResponse)
def round_page(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = signed_in(request, db)
    rnd = round_or_404(db, user, round_id)
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
    user, session = signed_in(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    try:
        service.add_member(db, round_or_404(db, user, round_id), name)
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
    user, session = signed_in(request, db)
    check_csrf(session, csrf)
    require_admin(user)
    token = service.create_upload_link(db, user, round_or_404(db, user, round_id), label, uses, days)
    db.commit()
    from urllib.parse import quote

    url = f"{request.base_url}u/{token}"
    return redirect(f"/rounds/{round_id}?new_link={quote(url, safe='')}#links")


@router.get("/static/style.css")
def stylesheet():
    from pathlib import Path

    css = (Path(__file__).parent / "templates" / "style.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


router.include_router(pages_round.router)
router.include_router(pages_submission.router)
