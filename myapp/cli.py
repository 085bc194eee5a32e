"""Commands for `flask --app myapp ...`: create the schema, create users."""

from __future__ import annotations

from pathlib import Path

import click
import voluptuous as vol
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from myapp.core import Email
from myapp.db import get_engine
from myapp.services.users import EmailTaken, create_user

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade_database(app: Flask) -> None:
    """Bring the schema to the newest migration (creating it on an empty database)."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    with get_engine(app).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    upgrade_database(current_app)
    click.echo("database schema is up to date")


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
    click.echo(f"created user {user.id} <{user.email}>{' (admin)' if admin else ''}")


def register_cli(app: Flask) -> None:
    """Add the commands to the app's `flask` CLI."""
    app.cli.add_command(init_db_command)
    app.cli.add_command(create_user_command)
