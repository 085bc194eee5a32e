"""SQLite tables never reuse a deleted row's id (AUTOINCREMENT).

Without it SQLite gives a new row the largest id plus one, so after the newest
user is deleted the next sign-up gets the same id, and with it whatever is still
keyed on that id: the rate-limit key `user:<id>`, cursors scoped to the owner,
cached URLs. PostgreSQL's identity sequences never go back, and are left alone.

SQLite cannot add AUTOINCREMENT to a table, so each is rebuilt (copied, dropped,
renamed), keeping its rows and ids; the caller turns foreign keys off for this,
or dropping `users` would delete every token and alias with it.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("users", "tokens", "aliases")


def _rebuild(autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding SQLite tables needs foreign keys off (PRAGMA foreign_keys)")
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")


def upgrade() -> None:
    """Rebuild the SQLite tables with AUTOINCREMENT."""
    _rebuild(autoincrement=True)


def downgrade() -> None:
    """Rebuild them without it."""
    _rebuild(autoincrement=False)
