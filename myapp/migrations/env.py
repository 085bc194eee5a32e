"""Alembic's entry point: migrate the app's own database with its models' metadata."""

from __future__ import annotations

from alembic import context

from myapp.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    from myapp import create_app
    from myapp.db import get_engine
    from myapp.migrations import sqlite_foreign_keys_off

    engine = get_engine(create_app())
    with engine.connect() as connection, sqlite_foreign_keys_off(connection):
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
