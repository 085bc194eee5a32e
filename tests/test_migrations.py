"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from myapp.cli import upgrade_database
from myapp.db import Base, get_engine
from myapp.migrations import MIGRATIONS, sqlite_foreign_keys_off
from myapp.models import Token, User
from myapp.services.tokens import issue_token
from myapp.services.users import EmailTaken, create_user, delete_user

PASSWORD = "correct horse battery"


def empty_database(engine):
    """Drop the models' tables and Alembic's bookkeeping."""
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def empty_app(make_app):
    """An app on a database with no tables at all (the fixture's create_all undone)."""
    app = make_app()
    engine = get_engine(app)
    empty_database(engine)
    assert inspect(engine).get_table_names() == []
    yield app
    # Leave the tables for the next test's fixture, without the migration bookkeeping.
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def alembic_config(connection):
    """The project's Alembic config, bound to an open connection."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.attributes["connection"] = connection
    return config


def head_revision():
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(Config(str(MIGRATIONS / "alembic.ini"))).get_current_head()


def schema_differences(engine):
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def current_revision(engine):
    """The revision the database is stamped with."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_migrations_build_the_models_schema(empty_app):
    engine = get_engine(empty_app)

    upgrade_database(empty_app)

    assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
    assert schema_differences(engine) == []
    assert current_revision(engine) == head_revision()


def test_a_missing_table_is_reported_as_a_difference(empty_app):
    """The comparison can fail: with no schema at all it lists every table to add."""
    differences = schema_differences(get_engine(empty_app))

    added = {diff[1].name for diff in differences if diff[0] == "add_table"}
    assert added == {table.name for table in Base.metadata.sorted_tables}


def test_upgrading_again_changes_nothing_and_keeps_the_data(empty_app):
    engine = get_engine(empty_app)
    upgrade_database(empty_app)
    with Session(engine) as session:
        create_user(
            session,
            email="ada@example.com",
            name="Ada",
            password=PASSWORD,
            hash_method=empty_app.config["PASSWORD_HASH_METHOD"],
        )

    upgrade_database(empty_app)

    assert schema_differences(engine) == []
    with Session(engine) as session:
        assert session.scalars(select(User.email)).all() == ["ada@example.com"]


def test_the_migrated_schema_enforces_unique_emails_and_cascades_tokens(empty_app):
    engine = get_engine(empty_app)
    method = empty_app.config["PASSWORD_HASH_METHOD"]
    upgrade_database(empty_app)

    with Session(engine, expire_on_commit=False) as session:
        user = create_user(
            session, email="ada@example.com", name="Ada", password=PASSWORD, hash_method=method
        )
        issue_token(session, user, ttl=60)
        with pytest.raises(EmailTaken):
            create_user(
                session, email="ADA@example.com", name="Ada", password=PASSWORD, hash_method=method
            )
        delete_user(session, user)
        assert session.scalar(select(func.count()).select_from(Token)) == 0


def test_downgrading_to_base_and_back(empty_app):
    engine = get_engine(empty_app)
    upgrade_database(empty_app)

    with (
        engine.connect() as connection,
        sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        command.downgrade(alembic_config(connection), "base")

    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None

    upgrade_database(empty_app)

    assert schema_differences(engine) == []
    assert current_revision(engine) == head_revision()


def test_a_deleted_users_id_is_never_given_again(empty_app):
    """The newest user deleted, the next sign-up gets a new id (SQLite reused it before
    migration 0003), so nothing keyed on the old id (rate limits, cursors) carries over."""
    upgrade_database(empty_app)
    with Session(get_engine(empty_app)) as session:
        first = create_user(
            session,
            email="a@example.com",
            name="A",
            password=PASSWORD,
            hash_method="pbkdf2:sha256:1",
        )
        newest = create_user(
            session,
            email="b@example.com",
            name="B",
            password=PASSWORD,
            hash_method="pbkdf2:sha256:1",
        )
        deleted_id = newest.id
        delete_user(session, newest)
        again = create_user(
            session,
            email="c@example.com",
            name="C",
            password=PASSWORD,
            hash_method="pbkdf2:sha256:1",
        )

        assert again.id > deleted_id > first.id


def test_rebuilding_for_autoincrement_keeps_every_row_and_id(empty_app):
    """Upgrading a database at 0002 with users, tokens and aliases: all of them kept, with
    their ids, and no token or alias lost to the rebuilt users table's drop."""
    engine = get_engine(empty_app)
    with engine.connect() as connection, connection.begin():
        command.upgrade(alembic_config(connection), "0002")
    with engine.begin() as connection:
        for user_id in (3, 9):
            connection.execute(
                text(
                    "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) "
                    "VALUES (:id, :email, 'N', 'x', false, '2026-01-01 00:00:00')"
                ),
                {"id": user_id, "email": f"u{user_id}@example.com"},
            )
        connection.execute(
            text(
                "INSERT INTO tokens (id, user_id, token_hash, created_at, expires_at) "
                "VALUES (5, 9, 'h', '2026-01-01 00:00:00', '2027-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO aliases (id, owner_id, address, target, description, enabled, "
                "created_at, updated_at) VALUES (7, 9, 'a@alias.example', 't@example.com', '', "
                "true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )

    before, after = upgrade_database(empty_app)

    assert (before, after) == ("0002", head_revision())
    assert schema_differences(engine) == []
    with engine.connect() as connection:
        assert connection.scalars(text("SELECT id FROM users ORDER BY id")).all() == [3, 9]
        assert connection.execute(text("SELECT id, user_id FROM tokens")).all() == [(5, 9)]
        assert connection.execute(text("SELECT id, owner_id FROM aliases")).all() == [(7, 9)]
        if connection.dialect.name == "sqlite":
            sql = connection.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'users'"))
            assert "AUTOINCREMENT" in sql
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1  # set back
