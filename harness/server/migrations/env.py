"""Alembic environment: run against the connection ``harness.server.db.migrate`` hands over."""

from alembic import context

from harness.server.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through harness.server.db.migrate (grade serve does it at start)")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
