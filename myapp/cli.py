"""Commands for `flask --app myapp ...`: the schema, its migrations, users, and cleaning up."""

from __future__ import annotations

import os

import click
import voluptuous as vol
from alembic import command
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from myapp.core import Email, ValidationFailed
from myapp.db import get_engine, utcnow
from myapp.idempotency import purge_expired
from myapp.migrations import alembic_config, schema_revision, sqlite_foreign_keys_off
from myapp.services.users import EmailTaken, create_user


def upgrade_database(app: Flask) -> tuple[str | None, str | None]:
    """Bring the schema to the newest migration (creating it on an empty database).

    Returns the schema's revisions before and after (None: there was no schema).
    """
    config = alembic_config()
    with (
        get_engine(app).connect() as connection,
        sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            # A migration may rewrite a big table: the requests' statement timeout is not for it.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        before = schema_revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return before, schema_revision(connection)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    before, after = upgrade_database(current_app)
    if before is None:
        click.echo(f"created the database schema (revision {after})")
    elif before != after:
        click.echo(f"upgraded the database schema from revision {before} to {after}")
    else:
        click.echo(f"the database schema is up to date (revision {after})")


@click.command("make-migration")
@click.argument("message")
@with_appcontext
def make_migration_command(message: str) -> None:
    """Write a migration from the difference between the models and the database."""
    config = alembic_config()
    with get_engine(current_app).begin() as connection:
        config.attributes["connection"] = connection
        scripts = command.revision(config, message=message, autogenerate=True)
    for script in scripts if isinstance(scripts, list) else [scripts]:
        if script is not None:
            click.echo(f"wrote {os.path.relpath(script.path)}")


@click.command("create-user")
@click.argument("email")
@click.option("--name", default="", help="Display name (defaults to the email's local part).")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.password_option(help="Asked for without echo when not given.")
@with_appcontext
def create_user_command(email: str, name: str, admin: bool, password: str) -> None:
    """Create a user with a password typed at the prompt."""
    try:
        email = Email()(email)
    except vol.Invalid as exc:
        raise click.BadParameter(str(exc), param_hint="email") from None
    if not 8 <= len(password) <= 128:
        raise click.BadParameter("must be 8 to 128 characters long", param_hint="password")
    with Session(get_engine(current_app), expire_on_commit=False) as session:
        try:
            user = create_user(
                session,
                email=email,
                name=name or email.partition("@")[0],
                password=password,
                hash_method=current_app.config["PASSWORD_HASH_METHOD"],
                is_admin=admin,
            )
        except EmailTaken:
            raise click.ClickException(f"a user with the email {email!r} exists") from None
        except ValidationFailed as exc:
            details = "; ".join(error["detail"] for error in exc.errors or ())
            raise click.BadParameter(details, param_hint="password") from None
    click.echo(f"created user {user.id} <{user.email}>{' (admin)' if admin else ''}")


@click.command("purge-idempotency-keys")
@with_appcontext
def purge_idempotency_keys_command() -> None:
    """Delete the expired Idempotency-Key outcomes (run it from cron, hourly say)."""
    with Session(get_engine(current_app)) as session:
        deleted = purge_expired(session, utcnow())
    click.echo(f"deleted {deleted} expired idempotency key{'' if deleted == 1 else 's'}")


def register_cli(app: Flask) -> None:
    """Add the commands to the app's `flask` CLI."""
    app.cli.add_command(init_db_command)
    app.cli.add_command(make_migration_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(purge_idempotency_keys_command)
