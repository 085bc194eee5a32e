"""Email aliases.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create aliases."""
    op.create_table(
        "aliases",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("owner_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("address", sa.String(254), nullable=False, unique=True),
        sa.Column("target", sa.String(254), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_aliases_owner_created_id", "aliases", ["owner_id", "created_at", "id"])


def downgrade() -> None:
    """Drop aliases."""
    op.drop_table("aliases")
