"""A round's side pages: the CSV export, calibration (disagreements and agreement) and similarity."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from harness.errors import ConfigError
from harness.server.board import SIMILAR_FLAG, leaderboard, round_similarity
from harness.server.board import disagreements as _disagreements
from harness.server.db import aware
from harness.server.web import db_session, render, round_or_404, signed_in

router = APIRouter()


@router.get("/rounds/{round_id}/export.csv")
def export_csv(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, _ = signed_in(request, db)
    rnd = round_or_404(db, user, round_id)
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

    user, session = signed_in(request, db)
    rnd = round_or_404(db, user, round_id)
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


@router.get("/rounds/{round_id}/similarity", response_class=HTMLResponse)
def similarity(round_id: int, request: Request, db: Session = Depends(db_session)):
    user, session = signed_in(request, db)
    rnd = round_or_404(db, user, round_id)
    pairs = round_similarity(request.app.state.data, db, rnd)
    return render(
        request, "similarity.html", user=user, csrf=session.csrf, rnd=rnd, pairs=pairs, problem="", flag=SIMILAR_FLAG
    )
