"""Alembic migrations: every schema change after the first is a revision here."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent


def alembic_config() -> Config:
    """Alembic's configuration for myapp's migrations."""
    return Config(str(MIGRATIONS / "alembic.ini"))


@functools.cache
def newest_revision() -> str | None:
    """The revision of the newest migration: the schema a database should have."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_revision(connection: Connection) -> str | None:
    """The revision the database's schema is at; None when it has none."""
    return MigrationContext.configure(connection).get_current_revision()
