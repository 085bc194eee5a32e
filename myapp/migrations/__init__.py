"""Alembic migrations: every schema change after the first is a revision here."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
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


@contextlib.contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Foreign keys off on this SQLite connection while migrations rebuild tables.

    A rebuild drops the old table, which with foreign keys on deletes every row that
    points at it (ON DELETE CASCADE). SQLite ignores the pragma inside a transaction,
    so it is set on the driver's connection before any transaction begins, and set
    back after. Other databases are left as they are.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.dbapi_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")
