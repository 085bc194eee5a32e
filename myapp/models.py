"""The service's tables: users, their bearer tokens, their email aliases, and the outcomes
kept for Idempotency-Key retries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from myapp.core import Email, Timestamp, named
from myapp.db import Base, BigId, utcnow


def isoformat(moment: datetime) -> str:
    """Render a stored (naive UTC) timestamp as RFC 3339 with a Z."""
    return moment.isoformat(timespec="seconds") + "Z"


#: The shape of User.to_dict(), for the API's documentation: one named schema.
USER_SCHEMA = named(
    "User",
    {"id": int, "email": Email(), "name": str, "is_admin": bool, "created_at": Timestamp()},
)
#: The shape of Alias.to_dict().
ALIAS_SCHEMA = named(
    "Alias",
    {
        "id": int,
        "address": Email(),
        "target": Email(),
        "description": str,
        "enabled": bool,
        "created_at": Timestamp(),
        "updated_at": Timestamp(),
    },
)


class User(Base):
    """Someone who can sign in; `email` is stored normalized (lowercase)."""

    __tablename__ = "users"
    # On SQLite, never a deleted user's id again (migration 0003).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    def to_dict(self) -> dict[str, Any]:
        """The public representation: never the password or its hash."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "is_admin": self.is_admin,
            "created_at": isoformat(self.created_at),
        }


class Token(Base):
    """A bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Alias(Base):
    """An address that forwards to `target` while enabled; `address` is unique everywhere."""

    __tablename__ = "aliases"
    # Newest-first keyset pages of one owner read this index in order.
    __table_args__ = (
        Index("ix_aliases_owner_created_id", "owner_id", "created_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254), unique=True)
    target: Mapped[str] = mapped_column(String(254))
    description: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    def to_dict(self) -> dict[str, Any]:
        """The public representation."""
        return {
            "id": self.id,
            "address": self.address,
            "target": self.target,
            "description": self.description,
            "enabled": self.enabled,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


class IdempotencyRecord(Base):
    """A keyed request's successful outcome, replayed to a retry until `expires_at`."""

    __tablename__ = "idempotency_keys"

    #: Whose key it is ("user:42", or "ip:<address>" on an anonymous route), and the key.
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    #: JSON: the result's headers as [name, value] pairs, and the document sent.
    headers: Mapped[str] = mapped_column(Text)
    document: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
