"""`flask init-db` and `flask create-user`, through Flask's CLI runner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from myapp.db import Base, get_engine
from myapp.migrations import MIGRATIONS, alembic_config
from myapp.models import User
from myapp.services.users import verify_password

PASSWORD = "correct horse 7"
ROOT = Path(__file__).resolve().parents[1]


#: The newest migration's revision.
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def invoke(app, *args, input=None):
    """Run a `flask` command against the app through Flask's CLI test runner."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


def all_users(app):
    """Every stored user."""
    with Session(get_engine(app), expire_on_commit=False) as session:
        return session.scalars(select(User).order_by(User.id)).all()


@pytest.fixture
def empty_app(make_app):
    """An app on a database with no tables at all."""
    app = make_app()
    engine = get_engine(app)
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    yield app
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_init_db_creates_the_schema_and_is_safe_to_run_again(empty_app):
    engine = get_engine(empty_app)

    first = invoke(empty_app, "init-db")

    assert first.exit_code == 0, first.output
    assert f"created the database schema (revision {HEAD})" in first.output
    assert {"users", "tokens"} <= set(inspect(engine).get_table_names())
    created = invoke(empty_app, "create-user", "ada@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output

    second = invoke(empty_app, "init-db")

    assert second.exit_code == 0, second.output
    assert f"the database schema is up to date (revision {HEAD})" in second.output
    assert [user.email for user in all_users(empty_app)] == ["ada@example.com"]


def test_init_db_says_it_upgraded_a_schema_that_was_behind(empty_app):
    engine = get_engine(empty_app)
    first = ScriptDirectory.from_config(alembic_config()).get_base()
    assert invoke(empty_app, "init-db").exit_code == 0
    with engine.begin() as connection:  # back to the first revision, as an old database is
        connection.execute(text("DROP TABLE aliases"))
        connection.execute(text("DROP TABLE idempotency_keys"))
        connection.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": first})

    result = invoke(empty_app, "init-db")

    assert result.exit_code == 0, result.output
    assert f"upgraded the database schema from revision {first} to {HEAD}" in result.output
    assert {"aliases", "idempotency_keys"} <= set(inspect(engine).get_table_names())


def test_make_migration_writes_what_the_models_add(empty_app, tmp_path, monkeypatch):
    config_copy = tmp_path / "migrations"
    versions = config_copy / "versions"
    versions.mkdir(parents=True)
    for name in ("alembic.ini", "env.py", "script.py.mako"):
        (config_copy / name).write_text((MIGRATIONS / name).read_text())
    for path in (MIGRATIONS / "versions").glob("*.py"):
        (versions / path.name).write_text(path.read_text())
    monkeypatch.setattr("myapp.migrations.MIGRATIONS", config_copy)
    monkeypatch.chdir(tmp_path)
    assert invoke(empty_app, "init-db").exit_code == 0
    with get_engine(empty_app).begin() as connection:  # as if the models had gained a table
        connection.execute(text("DROP TABLE aliases"))

    result = invoke(empty_app, "make-migration", "bring back aliases")

    assert result.exit_code == 0, result.output
    [written] = set(versions.glob("*.py")) - {
        versions / p.name for p in MIGRATIONS.glob("versions/*.py")
    }
    assert f"wrote {os.path.relpath(written)}" in result.output
    assert "bring_back_aliases" in written.name
    # Alembic writes the table's name quoted one way or the other.
    assert re.search(r"op\.create_table\(\s*['\"]aliases['\"]", written.read_text())


def test_flask_help_lists_the_commands_without_a_secret_key(tmp_path):
    """`flask --app myapp --help` on a fresh machine: no traceback, every command listed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MYAPP_", "FLASK_"))}
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "myapp", "--help"],
        cwd=ROOT,
        env={**environ, "MYAPP_DATABASE_URL": f"sqlite:///{tmp_path / 'help.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for command in ("init-db", "make-migration", "create-user", "routes", "run"):
        assert f"  {command} " in done.stdout


@pytest.mark.parametrize(
    ("args", "email", "name", "is_admin"),
    [
        (["Ada@Example.COM"], "ada@example.com", "Ada", False),
        (["ada@example.com", "--admin"], "ada@example.com", "ada", True),
        (["ada@example.com", "--name", "Ada Lovelace"], "ada@example.com", "Ada Lovelace", False),
    ],
    ids=["plain", "admin", "named"],
)
def test_create_user(app, client, args, email, name, is_admin):
    result = invoke(app, "create-user", *args, input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    (user,) = all_users(app)
    assert (user.email, user.name, user.is_admin) == (email, name, is_admin)
    assert f"created user {user.id} <{email}>" in result.output
    assert result.output.rstrip().endswith("(admin)") is is_admin
    # The password was typed at a hidden prompt: stored hashed, never echoed.
    assert PASSWORD not in result.output
    assert user.password_hash != PASSWORD
    assert verify_password(user.password_hash, PASSWORD)
    response = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize("again", ["ada@example.com", "ADA@EXAMPLE.COM"])
def test_create_user_with_a_taken_email_fails_clearly(app, again):
    assert (
        invoke(
            app, "create-user", "ada@example.com", input="correct horse 7\ncorrect horse 7\n"
        ).exit_code
        == 0
    )

    result = invoke(app, "create-user", again, input="another horse 8\nanother horse 8\n")

    assert result.exit_code != 0
    assert "exists" in result.output
    assert "Traceback" not in result.output
    (user,) = all_users(app)
    assert verify_password(user.password_hash, "correct horse 7")


@pytest.mark.parametrize("password", ["short", "p" * 7, "p" * 129])
def test_create_user_rejects_a_bad_password_length(app, password):
    result = invoke(app, "create-user", "ada@example.com", input=f"{password}\n{password}\n" * 3)

    assert result.exit_code != 0
    assert "8 to 128" in result.output
    assert all_users(app) == []


@pytest.mark.parametrize(
    "email", ["not-an-email", "ada@", "@example.com", "ada@localhost", "ada @example.com"]
)
def test_create_user_rejects_a_bad_email(app, email):
    result = invoke(app, "create-user", email, input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 2
    assert "not a valid email address" in result.output
    assert all_users(app) == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [("password1\npassword2\n", "do not match"), ("\n\n", "Aborted")],
    ids=["mismatch", "empty"],
)
def test_create_user_without_a_confirmed_password_creates_nobody(app, typed, message):
    result = invoke(app, "create-user", "ada@example.com", input=typed)

    assert result.exit_code != 0
    assert message in result.output
    assert all_users(app) == []


def test_commands_push_their_own_app_context(empty_app):
    runner = empty_app.test_cli_runner()  # unlike `flask`, it pushes no context itself

    assert runner.invoke(args=["init-db"]).exit_code == 0
    result = runner.invoke(
        args=["create-user", "ada@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert "created user" in result.output
