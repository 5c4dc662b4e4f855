"""``grade serve``: grade on upload for a hiring round.

One process: a FastAPI app (JSON API for CI, server-rendered pages for reviewers and
candidates) and N grading threads that claim jobs from the database queue. The database
(SQLite in WAL mode by default, PostgreSQL by URL) holds rounds, people, submissions, jobs,
reviews and decisions; uploads and report files live in a data directory. Grading runs the
same pipeline as ``grade`` and writes the same report files.

Install with the ``[server]`` extra. Modules: ``models`` (tables), ``db`` (engine, migrations),
``jobqueue`` (atomic claims, restart recovery), ``engine`` (the job-engine seam and the
database-queue workers), ``storage`` (uploads and report paths), ``security`` (passwords,
tokens, sessions, CSRF, throttling), ``api`` / ``pages`` (routes), ``app`` (assembly),
``cli`` (``grade serve``, ``grade admin``, ``grade submit``), ``client`` (the submit client).
"""
