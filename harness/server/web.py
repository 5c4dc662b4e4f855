"""What every page route needs: the signed-in user, CSRF checks, rendering with the CSRF token."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from harness.server import service
from harness.server.models import Round, Submission, User
from harness.server.security import SESSION_COOKIE, SESSION_MAX_AGE_S, SessionData, same_token


class LoginRequired(Exception):
    """No valid session on a page that needs one: the handler redirects to /login."""


def session_of(request: Request) -> SessionData | None:
    return request.app.state.sessions.read(request.cookies.get(SESSION_COOKIE))


def page_user(request: Request, db: Session) -> tuple[User, SessionData]:
    session = session_of(request)
    user = db.get(User, session.user_id) if session else None
    if user is None or user.session_version != session.version:
        raise LoginRequired()
    return user, session


def check_csrf(session: SessionData, given: str | None) -> None:
    if not same_token(session.csrf, given):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise HTTPException(403, "only an admin may do this")


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def set_session(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=request.app.state.config.secure_cookies,
        path="/",
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def db_session(request: Request) -> Iterator[Session]:
    with request.app.state.db() as db:
        yield db


def signed_in(request: Request, db: Session) -> tuple[User, SessionData]:
    """The page's user and session; not signed in: a redirect to /login and back."""
    try:
        return page_user(request, db)
    except LoginRequired:
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"}) from None


def round_or_404(db: Session, user: User, round_id: int) -> Round:
    try:
        return service.get_round(db, user, round_id)
    except service.NotFound:
        raise HTTPException(404) from None


def submission_or_404(db: Session, user: User, submission_id: int) -> tuple[Submission, Round]:
    try:
        return service.get_submission(db, user, submission_id)
    except service.NotFound:
        raise HTTPException(404) from None
