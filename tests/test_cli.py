"""`flask init-db` and `flask create-user`, through Flask's CLI runner."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from myapp.db import Base, get_engine
from myapp.models import User
from myapp.services.users import verify_password

PASSWORD = "password1"


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
    assert "database schema is up to date" in first.output
    assert {"users", "tokens"} <= set(inspect(engine).get_table_names())
    created = invoke(empty_app, "create-user", "ada@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output

    second = invoke(empty_app, "init-db")

    assert second.exit_code == 0, second.output
    assert "database schema is up to date" in second.output
    assert [user.email for user in all_users(empty_app)] == ["ada@example.com"]


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
        invoke(app, "create-user", "ada@example.com", input="password1\npassword1\n").exit_code == 0
    )

    result = invoke(app, "create-user", again, input="password2\npassword2\n")

    assert result.exit_code != 0
    assert "exists" in result.output
    assert "Traceback" not in result.output
    (user,) = all_users(app)
    assert verify_password(user.password_hash, "password1")


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
