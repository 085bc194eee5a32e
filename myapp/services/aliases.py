"""Aliases: create (a chosen or a generated address), list newest first, change, resolve."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from myapp.core import ApiException, Conflict, ValidationFailed
from myapp.models import Alias, User

#: Short, neutral words for generated addresses (word-word-NNNN: 64*64*10000 choices).
WORDS = [
    "amber",
    "apple",
    "arrow",
    "aspen",
    "bay",
    "birch",
    "blue",
    "brook",
    "cedar",
    "clay",
    "cloud",
    "coral",
    "cove",
    "crane",
    "dawn",
    "delta",
    "dune",
    "elm",
    "fern",
    "field",
    "finch",
    "flint",
    "fox",
    "frost",
    "glade",
    "grove",
    "harbor",
    "hazel",
    "heron",
    "hill",
    "iris",
    "ivy",
    "jade",
    "lake",
    "lark",
    "leaf",
    "lime",
    "lotus",
    "maple",
    "marsh",
    "meadow",
    "mint",
    "moss",
    "oak",
    "olive",
    "opal",
    "orchid",
    "otter",
    "pearl",
    "pine",
    "plum",
    "pond",
    "quartz",
    "reed",
    "ridge",
    "river",
    "robin",
    "sage",
    "shore",
    "sky",
]
GENERATE_ATTEMPTS = 8


class AddressTaken(Conflict):
    """Another alias (anyone's) already has this address."""

    type = "address-taken"
    title = "Alias address taken"
    detail = "This alias address is already in use."


class AliasQuotaExceeded(ApiException):
    """The user has as many aliases as the quota allows."""

    status = 422
    type = "alias-quota-exceeded"
    title = "Alias quota exceeded"


def target_problem(target: str, domains: Sequence[str]) -> str | None:
    """Why a target is not allowed, or None: forwarding to an alias would chain (or loop)."""
    if target.rpartition("@")[2].lower() in domains:
        return "must be a real mailbox, not another alias"
    return None


def address_problem(address: str, domains: Sequence[str]) -> str | None:
    """Why an alias address is not allowed, or None."""
    if address.rpartition("@")[2].lower() not in domains:
        return f"must be at one of these domains: {', '.join(domains)}"
    return None


def _check(pointer: str, problem: str | None) -> None:
    if problem is not None:
        raise ValidationFailed.for_field(pointer, problem)


def generate_address(domain: str) -> str:
    """A readable random address: word-word-NNNN@domain."""
    first, second = secrets.choice(WORDS), secrets.choice(WORDS)
    return f"{first}-{second}-{secrets.randbelow(10000):04d}@{domain}"


def _candidates(address: str | None, domains: Sequence[str]) -> list[str]:
    if address is None:
        return [generate_address(domains[0]) for _ in range(GENERATE_ATTEMPTS)]
    address = address.strip().lower()
    _check("#/address", address_problem(address, domains))
    return [address]


def create_alias(
    session: Session,
    owner_id: int,
    *,
    target: str,
    domains: Sequence[str],
    quota: int,
    address: str | None = None,
    description: str = "",
    enabled: bool = True,
) -> Alias:
    """Create an alias within the owner's quota; a generated address is retried on collision.

    The alias is flushed, not committed: the caller commits it, with whatever else
    belongs to the same change (an Idempotency-Key's outcome).
    """
    _check("#/target", target_problem(target, domains))
    candidates = _candidates(address, domains)
    # Lock the owner's row so concurrent creations count one after another (PostgreSQL;
    # SQLite's writing transactions are already serialized).
    session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    count = session.scalar(select(func.count()).where(Alias.owner_id == owner_id)) or 0
    if count >= quota:
        raise AliasQuotaExceeded(f"You have {count} aliases; the quota is {quota}.")
    for candidate in candidates:
        alias = Alias(
            owner_id=owner_id,
            address=candidate,
            target=target,
            description=description,
            enabled=enabled,
        )
        try:
            with session.begin_nested():
                session.add(alias)
        except IntegrityError:
            continue
        return alias
    session.rollback()
    raise AddressTaken()


def list_aliases(
    session: Session,
    owner_id: int,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
    enabled: bool | None = None,
    q: str | None = None,
) -> tuple[list[Alias], bool]:
    """Up to `limit` aliases newest first (ties: higher id first) after a keyset position,
    and whether more follow. `q` matches address or description as plain text."""
    query = select(Alias).where(Alias.owner_id == owner_id)
    if enabled is not None:
        query = query.where(Alias.enabled == enabled)
    if q:
        query = query.where(
            or_(
                Alias.address.icontains(q, autoescape=True),
                Alias.description.icontains(q, autoescape=True),
            )
        )
    if after is not None:
        query = query.where(tuple_(Alias.created_at, Alias.id) < tuple_(*after))
    query = query.order_by(Alias.created_at.desc(), Alias.id.desc()).limit(limit + 1)
    rows = list(session.scalars(query))
    return rows[:limit], len(rows) > limit


def get_alias(
    session: Session, owner_id: int, alias_id: int, *, lock: bool = False
) -> Alias | None:
    """The owner's alias with this id, or None (someone else's is None too)."""
    query = select(Alias).where(Alias.id == alias_id, Alias.owner_id == owner_id)
    return session.scalar(query.with_for_update() if lock else query)


def update_alias(
    session: Session, alias: Alias, changes: dict[str, Any], *, domains: Sequence[str]
) -> Alias:
    """Apply changes to target, description and enabled (address and owner never change)."""
    if "target" in changes:
        _check("#/target", target_problem(changes["target"], domains))
    for name in ("target", "description", "enabled"):
        if name in changes:
            setattr(alias, name, changes[name])
    session.commit()
    return alias


def delete_alias(session: Session, alias: Alias) -> None:
    """Delete an alias."""
    session.delete(alias)
    session.commit()


def resolve(session: Session, address: str) -> Alias | None:
    """The enabled alias with this address, as a mail server's lookup needs it."""
    return session.scalar(
        select(Alias).where(Alias.address == address.strip().lower(), Alias.enabled.is_(True))
    )
