"""Assembling the app: configuration, database, job engine, templates, security headers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from harness.server.db import make_engine, migrate, sessions
from harness.server.engine import DatabaseQueue, GradeFn, JobEngine, Outcome, grade_submission
from harness.server.security import LoginThrottle, Sessions, load_secret_key
from harness.server.storage import DEFAULT_MAX_UPLOAD_MB, DataDir

log = logging.getLogger("harness.server")
HERE = Path(__file__).parent
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class ServerConfig:
    db_url: str
    data_dir: Path
    workers: int = 1
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    webhook_url: str | None = None
    webhook_secret: str | None = None
    secure_cookies: bool = False
    """Mark cookies ``Secure`` (set when served over HTTPS behind a proxy)."""
    poll_s: float = 1.0
    engine: str = "threads"
    """``threads``: grading threads in this process; ``celery``: Celery workers via ``store``."""
    broker: str | None = None
    store: str | None = None
    extra: dict = field(default_factory=dict)


def create_app(
    config: ServerConfig, *, grade_fn: GradeFn = grade_submission, job_engine: JobEngine | None = None
) -> FastAPI:
    """The app; ``grade_fn`` is the grading step (tests pass a fake), ``job_engine`` another
    engine than the in-process database queue (``--engine celery``)."""
    data = DataDir(config.data_dir).prepare()
    engine = make_engine(config.db_url)
    migrate(engine)

    def on_done(submission_id: int, outcome: Outcome) -> None:
        if config.webhook_url:
            from harness.server.webhook import send_graded

            send_graded(config.webhook_url, config.webhook_secret, engine, submission_id)

    queue = job_engine
    if queue is None and config.engine == "celery":
        from harness.server.celery_jobs import CeleryJobs

        queue = CeleryJobs(engine, data, config.broker, config.store, poll_s=config.poll_s, on_done=on_done)
    if queue is None:
        queue = DatabaseQueue(engine, data, grade_fn, workers=config.workers, poll_s=config.poll_s, on_done=on_done)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        try:
            yield
        finally:
            queue.stop()
            engine.dispose()

    app = FastAPI(title="holdout", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.config = config
    app.state.engine = engine
    app.state.db = sessions(engine)
    app.state.data = data
    app.state.queue = queue
    app.state.sessions = Sessions(load_secret_key(data.root))
    app.state.throttle = LoginThrottle()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # upload-link tokens live in URLs
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    from harness.server import api, candidate, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(candidate.router)

    @app.exception_handler(404)
    async def not_found(request: Request, exc) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response("not found", status_code=404, media_type="text/plain")

    return app
