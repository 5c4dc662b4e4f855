"""The candidate's pages behind an upload link: upload, then a receipt with the status.

The link (a random token in the URL; only its sha256 is stored) is the candidate's only
credential: it shows the submissions made through it — receipt and status, never a score, a
report or anyone else's submission — and accepts uploads while it has uses left and has not
expired.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from harness.server import service
from harness.server.models import Round, Submission
from harness.server.security import same_token, token_hash
from harness.server.storage import UploadError, receive_upload
from harness.server.web import redirect, render

router = APIRouter()

CANDIDATE_STATUS = {
    "queued": "received, waiting to be processed",
    "running": "received, being processed",
    "graded": "received and processed",
    "needs_review": "received and processed",
    "failed": "received; processing is delayed (the team has been told)",
    "rejected": "could not be read: check that it is a .zip or .tar.gz of your project and upload again",
}


def _page(request: Request, token: str, status_code: int = 200, error: str = ""):
    with request.app.state.db() as db:
        link = service.link_for_token(db, token)
        if link is None:
            return render(request, "candidate.html", 404, gone=True)
        rnd = db.get(Round, link.round_id)
        subs = list(db.scalars(select(Submission).where(Submission.upload_link_id == link.id).order_by(Submission.id)))
        receipt = request.query_params.get("receipt", "")
        return render(
            request,
            "candidate.html",
            status_code,
            gone=False,
            link=link,
            round_name=rnd.name,
            subs=subs,
            statuses=CANDIDATE_STATUS,
            csrf=request.app.state.sessions.form_token(f"upload:{token_hash(token)}"),
            receipt=int(receipt) if receipt.isdigit() else None,
            error=error,
            max_mb=request.app.state.config.max_upload_mb,
        )


@router.get("/u/{token}", response_class=HTMLResponse)
async def upload_page(token: str, request: Request):
    return await run_in_threadpool(_page, request, token)


@router.post("/u/{token}")
async def upload(token: str, request: Request):
    state = request.app.state

    def find():
        with state.db() as db:
            return service.link_for_token(db, token)

    link = await run_in_threadpool(find)
    if link is None:
        raise HTTPException(404)
    if link.uses_left <= 0:
        return await run_in_threadpool(_page, request, token, 409, "This link has been used: ask for a new one.")
    limit = state.config.max_upload_mb * 1024 * 1024
    try:
        received = await receive_upload(
            request.headers.get("content-type", ""), request.stream(), state.data, max_bytes=limit
        )
    except UploadError as exc:
        return await run_in_threadpool(_page, request, token, exc.status_code, str(exc))
    if not same_token(state.sessions.form_token(f"upload:{token_hash(token)}"), received.fields.get("csrf")):
        received.path.unlink(missing_ok=True)
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")

    def store():
        with state.db() as db:
            fresh = service.link_for_token(db, token)
            if fresh is None:
                received.path.unlink(missing_ok=True)
                return None, False
            sub, duplicate = service.store_submission(db, state.data, fresh.round_id, received, link=fresh)
            db.commit()
            return sub, duplicate

    try:
        sub, duplicate = await run_in_threadpool(store)
    except service.Forbidden as exc:
        return await run_in_threadpool(_page, request, token, 409, str(exc))
    if sub is None:
        raise HTTPException(404)
    if not duplicate:
        state.queue.notify()
    if sub.upload_link_id != link.id:  # the same bytes came in through another link or the API
        return await run_in_threadpool(_page, request, token, 200, "These exact bytes were already received.")
    return redirect(f"/u/{token}?receipt={sub.id}")
