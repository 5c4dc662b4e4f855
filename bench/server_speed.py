"""`grade serve` page speed with a full round: 500 graded submissions (fake report files, no
Docker), two reviewers with reviews on half of them; p50/p95 of the dashboard, a round's
leaderboard, a submission page and its report, over loopback HTTP.

    python bench/server_speed.py [--submissions 500] [--requests 200] [--db URL]

Target: p95 < 200 ms for the leaderboard and the submission page. The database defaults to a
fresh SQLite file; pass ``--db postgresql://...`` for an empty PostgreSQL database.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def seed(db_url: str, data_dir: Path, n: int) -> None:
    from sqlalchemy import text

    from harness.panel.scorecard import refresh_panel
    from harness.reports.write import write_reports
    from harness.server import service
    from harness.server.db import make_engine, migrate, sessions, utcnow
    from harness.server.storage import DataDir
    from tests.sample_reports import realistic_report

    data = DataDir(data_dir).prepare()
    engine = make_engine(db_url)
    migrate(engine)
    with sessions(engine)() as db:
        admin, _ = service.create_user(db, "admin", "admin", "bench-admin-password")
        for name in ("alice", "bob"):
            service.create_user(db, name, "reviewer", f"bench-{name}-password")
        rnd = service.create_round(db, admin, "Bench round", "applied_ml")
        for name in ("alice", "bob"):
            service.add_member(db, rnd, name)
        db.commit()
        users = {
            u: db.execute(text("SELECT id FROM users WHERE name = :n"), {"n": u}).scalar_one() for u in ("alice", "bob")
        }
    template = data_dir / "template"
    report = realistic_report()
    write_reports(refresh_panel(template, report, write=False), template)
    rng = random.Random(0)
    with engine.begin() as conn:
        for i in range(1, n + 1):
            score = round(rng.uniform(10, 95), 2)
            sid = conn.execute(
                text(
                    "INSERT INTO submissions (round_id, sha256, size_bytes, filename, label, status, score, error, graded_at) "
                    "VALUES (:r, :h, 1000, 's.zip', :l, 'graded', :s, '', :g) RETURNING id"
                ),
                {"r": rnd.id, "h": f"{i:064x}", "l": f"candidate {i}", "s": score, "g": utcnow()},
            ).scalar_one()
            conn.execute(
                text("INSERT INTO jobs (submission_id, status, attempts, claimed_by) VALUES (:s, 'done', 1, '')"),
                {"s": sid},
            )
            if i % 2 == 0:
                for uid in users.values():
                    conn.execute(
                        text(
                            "INSERT INTO reviews (submission_id, reviewer_id, levels, comments, recommendation, updated_at) "
                            "VALUES (:s, :u, :lv, '{}', 'yes', :t)"
                        ),
                        {"s": sid, "u": uid, "lv": f'{{"approach": {rng.randint(1, 5)}}}', "t": utcnow()},
                    )
            shutil.copytree(template, data.report_dir(rnd.id, sid))
    engine.dispose()


def measure(get, path_for, count: int) -> list[float]:
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        response = get(path_for(i))
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path_for(i), response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    import httpx
    import uvicorn

    from harness.server.app import ServerConfig, create_app

    tmp = Path(tempfile.mkdtemp(prefix="holdout-bench-server-"))
    try:
        db_url = args.db or f"sqlite:///{tmp / 'bench.db'}"
        t0 = time.perf_counter()
        seed(db_url, tmp / "data", args.submissions)
        print(
            f"seeded {args.submissions} graded submissions in {time.perf_counter() - t0:.1f} s ({db_url.split(':')[0]})"
        )
        app = create_app(ServerConfig(db_url=db_url, data_dir=tmp / "data", workers=0))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.get("/login").text
            csrf = login.split('name="csrf" value="')[1].split('"')[0]
            client.post("/login", data={"name": "alice", "password": "bench-alice-password", "csrf": csrf})
            rng = random.Random(1)
            pages = {
                "rounds dashboard (/)": lambda i: "/",
                "leaderboard (first 100 rows)": lambda i: "/rounds/1",
                f"leaderboard (all {args.submissions} rows)": lambda i: "/rounds/1?page=all",
                "submission page": lambda i: f"/submissions/{rng.randint(1, args.submissions)}",
                "report.html": lambda i: f"/submissions/{rng.randint(1, args.submissions)}/report.html",
                "CSV export": lambda i: "/rounds/1/export.csv",
            }
            for path in ("/", "/rounds/1", "/submissions/1"):
                client.get(path)  # warm up
            print(
                f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   ({args.requests} requests each, sequential)"
            )
            for name, path_for in pages.items():
                times = sorted(measure(client.get, path_for, args.requests))
                p95 = times[int(0.95 * (len(times) - 1))]
                print(f"{name:32} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}")
        server.should_exit = True
        thread.join(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
