"""The database: one SQLAlchemy engine per app, one session per request, outages as 503s.

The embedded default is a SQLite file in the instance folder (WAL, foreign keys,
a busy timeout, and BEGIN IMMEDIATE for writing requests so two writers queue
instead of failing); MYAPP_DATABASE_URL=postgresql+psycopg://... runs the same code
on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy import BigInteger, Engine, Integer, create_engine, event, exc
from sqlalchemy.orm import DeclarativeBase, Session

from myapp.core import ApiFlask, NotReady, ServiceUnavailable, api_request
from myapp.core.errors import handle_unexpected, render_problem
from myapp.core.metrics import current_metrics
from myapp.core.request import context_globals, current_api_app
from myapp.core.tracing import EXTENSION as TRACING
from myapp.migrations import newest_revision, schema_revision

EXTENSION = "db"
#: The engine writing requests use: on SQLite, one that begins with BEGIN IMMEDIATE.
WRITE_EXTENSION = "db.write"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What SQLite and PostgreSQL say of a table that does not exist.
_NO_TABLE = re.compile(r"no such table|relation \S+ does not exist")
#: SQLite's rowid alias must be INTEGER; everywhere else ids are 64-bit.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """The declarative base of every model."""


def utcnow() -> datetime:
    """The current UTC time, naive, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine(url: str, busy_timeout: float) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event choose how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()
        # SQLite's lower() folds ASCII only; case-insensitive search must fold "É" too.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once
        # ("database is locked") when another writer got in between; taking the
        # write lock up front makes writers wait their turn instead.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_engine(
    url: str,
    *,
    busy_timeout: float = 5.0,
    connect_timeout: int = 3,
    statement_timeout: float = 10.0,
) -> Engine:
    """Build an engine for SQLite or PostgreSQL with the settings each needs.

    On PostgreSQL every statement is cut off after `statement_timeout` seconds (0:
    never), so a slow query cannot hold a worker and a pooled connection unbounded;
    the request gets a 503 like any other database failure.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout)
    milliseconds = round(statement_timeout * 1000)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=connect_timeout,
        connect_args={
            "connect_timeout": connect_timeout,
            "options": f"-c statement_timeout={milliseconds}",
        },
    )


def database_url(app: Flask) -> str:
    """The configured URL, or a SQLite file in the instance folder."""
    url: str | None = app.config["DATABASE_URL"]
    if url:
        return url
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "myapp.sqlite3")


def get_engine(app: Flask | None = None) -> Engine:
    """The app's engine."""
    engine: Engine = (app or current_app).extensions[EXTENSION]
    return engine


def get_session() -> Session:
    """This request's session, opened on first use and closed at teardown."""
    context = context_globals()
    session: Session | None = context.get("db_session")
    if session is None:
        writing = api_request().method not in _SAFE_METHODS
        extensions = current_api_app().extensions
        engine = extensions[WRITE_EXTENSION if writing else EXTENSION]
        session = context.db_session = Session(engine, expire_on_commit=False)
    return session


@contextlib.contextmanager
def read_session() -> Iterator[Session]:
    """A session of its own on the reading engine, outside this request's transaction.

    For a read a writing request makes before it writes: on SQLite the request's own
    session would take the write lock for it.
    """
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def _close_session(_error: BaseException | None) -> None:
    session: Session | None = context_globals().pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except exc.SQLAlchemyError as error:
        # Closing rolls back; on a connection the database dropped (a restart) that
        # fails. The response is already made, and an error raised in teardown would
        # bypass every handler and reach the server as a bare 500. The pool discards
        # the dead connection either way.
        current_app.logger.warning("could not close the session: %s", type(error).__name__)


def check_database(engine: Engine) -> None:
    """Raise when the database is unreachable, NotReady when its schema is missing or behind."""
    with engine.connect() as connection:
        revision = schema_revision(connection)
    if revision is None:
        raise NotReady("no schema: run `flask --app myapp init-db`")
    if revision != newest_revision():
        raise NotReady(f"schema at {revision}, not {newest_revision()}: run init-db")


def handle_database_down(error: exc.SQLAlchemyError) -> Response:
    """Answer 503 when the database is unreachable, locked past its timeout, or saturated."""
    current_app.logger.warning("database unavailable: %s", error.__class__.__name__)
    metrics = current_metrics()
    if metrics is not None:
        metrics.database_errors.labels(type(error).__name__).inc()
    if _NO_TABLE.search(str(error)):
        current_app.logger.warning(
            "the database has no schema: run `flask --app myapp init-db` to create it"
        )
    locked = "locked" in str(error)
    return render_problem(
        ServiceUnavailable(
            "The database is busy; retry shortly."
            if locked
            else "The database is unavailable; retry shortly.",
            retry_after=1 if locked else 5,
        )
    )


def handle_missing_table(error: exc.ProgrammingError) -> Response:
    """PostgreSQL's word for a missing table is a ProgrammingError: the schema is not there."""
    if _NO_TABLE.search(str(error)):
        return handle_database_down(error)
    return handle_unexpected(error)


def trace_database(app: ApiFlask) -> None:
    """With tracing on, each statement a child span of its request's (SQLAlchemy's
    OpenTelemetry instrumentation). One app per process is traced: the newest."""
    tracing = app.extensions.get(TRACING)
    if tracing is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The instrumentation declares SQLAlchemy < 2.1 and would do nothing with 2.1; the
    # engine events it listens to are unchanged there, and the tests check its spans.
    instrumentor.instrument(
        engine=get_engine(app), tracer_provider=tracing.provider, skip_dep_check=True
    )


def register_database(app: ApiFlask) -> None:
    """Create the engine, close sessions at teardown, and map outages to 503."""
    engine = app.extensions[EXTENSION] = make_engine(
        database_url(app),
        busy_timeout=app.config["DATABASE_BUSY_TIMEOUT"],
        connect_timeout=app.config["DATABASE_CONNECT_TIMEOUT"],
        statement_timeout=app.config["DATABASE_STATEMENT_TIMEOUT"],
    )
    # Built once: the option engine shares the pool, only the BEGIN differs.
    app.extensions[WRITE_EXTENSION] = (
        engine.execution_options(sqlite_begin="IMMEDIATE")
        if engine.dialect.name == "sqlite"
        else engine
    )
    app.teardown_appcontext(_close_session)
    app.readiness_checks["database"] = functools.partial(check_database, engine)
    for error in (exc.OperationalError, exc.InterfaceError, exc.TimeoutError):
        app.register_error_handler(error, handle_database_down)
    app.register_error_handler(exc.ProgrammingError, handle_missing_table)
