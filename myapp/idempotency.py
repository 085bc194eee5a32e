"""Idempotency-Key outcomes in the database, committed with what the request created.

A keyed request's transaction reads the key's record (one indexed read) and, when
the view succeeds, inserts it (one write) in the same commit as the view's own
writes: a worker killed before that commit leaves neither behind, and the retry
runs again. Two requests with one key cannot both run:
- SQLite: a writing request holds the database's write lock from that read to its
  commit, so the second waits its turn and finds the first's outcome.
- PostgreSQL: the read is preceded by a transaction-scoped advisory lock on the
  key; a request that cannot take it at once is the 409 "in flight" answer. The
  lock ends with the transaction, and with the connection of a killed worker.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, bindparam, delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from myapp.core.idempotency import EXTENSION, Idempotency, IdempotencyKeyInFlight, Outcome
from myapp.db import get_engine, get_session, utcnow
from myapp.models import IdempotencyRecord

#: Expired records deleted per transaction by `purge_expired`.
PURGE_BATCH = 1000


# Built once, and run on the session's connection: building a statement, and the
# ORM's way of executing one, cost more than SQLite takes to run it.
_THIS_KEY = and_(
    IdempotencyRecord.scope == bindparam("scope"), IdempotencyRecord.key == bindparam("key")
)
_FIND = select(
    IdempotencyRecord.fingerprint,
    IdempotencyRecord.status,
    IdempotencyRecord.headers,
    IdempotencyRecord.document,
    IdempotencyRecord.expires_at,
).where(_THIS_KEY)
_FORGET = delete(IdempotencyRecord).where(_THIS_KEY)
_KEEP = insert(IdempotencyRecord)


def _lock_id(scope: str, key: str) -> int:
    """The key's PostgreSQL advisory lock: 64 bits of a hash of scope and key."""
    digest = hashlib.blake2b(f"{scope}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabaseStore:
    """Outcomes in the `idempotency_keys` table, kept `ttl` seconds.

    `advisory_locks`: hold a key with PostgreSQL's advisory lock (SQLite's write lock
    already holds it).
    """

    def __init__(self, ttl: int, *, advisory_locks: bool) -> None:
        self.ttl = timedelta(seconds=ttl)
        self.advisory_locks = advisory_locks

    def claim(self, scope: str, key: str) -> Outcome | None:
        """Hold the key for this transaction; its live outcome, or None to run the view."""
        session = get_session()
        if self.advisory_locks:
            held = session.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(scope, key))))
            if not held:
                raise IdempotencyKeyInFlight()
        found = session.connection().execute(_FIND, {"scope": scope, "key": key}).first()
        if found is None:
            return None
        if found.expires_at <= utcnow():
            # The key is free again; this request's outcome takes its place.
            session.connection().execute(_FORGET, {"scope": scope, "key": key})
            return None
        headers = [(name, value) for name, value in json.loads(found.headers)]
        document = json.loads(found.document)
        return Outcome(scope, key, found.fingerprint, found.status, headers, document)

    def commit(self, outcome: Outcome | None) -> None:
        """Commit the request's writes, with the outcome's record when there is one."""
        session = get_session()
        if outcome is None:
            session.commit()
            return
        session.flush()  # the view's own writes fail as themselves, not as the key's
        record = {
            "scope": outcome.scope,
            "key": outcome.key,
            "fingerprint": outcome.fingerprint,
            "status": outcome.status,
            "headers": json.dumps(outcome.headers),
            "document": json.dumps(outcome.document),
            "expires_at": utcnow() + self.ttl,
        }
        try:
            session.connection().execute(_KEEP, record)
        except IntegrityError:
            # Another request with the key got there first (possible only if its lock
            # was lost): nothing of this one is kept, and a retry replays that one's.
            session.rollback()
            raise IdempotencyKeyInFlight() from None
        session.commit()


def purge_expired(session: Session, now: datetime, batch: int = PURGE_BATCH) -> int:
    """Delete expired records, `batch` per transaction so no lock is held long; the count."""
    deleted = 0
    while True:
        expired = (
            select(IdempotencyRecord.scope, IdempotencyRecord.key)
            .where(IdempotencyRecord.expires_at <= now)
            .limit(batch)
        )
        result = session.execute(
            delete(IdempotencyRecord).where(
                tuple_(IdempotencyRecord.scope, IdempotencyRecord.key).in_(expired)
            )
        )
        session.commit()
        count: int = result.rowcount  # type: ignore[attr-defined]
        deleted += count
        if count < batch:
            return deleted


def register_idempotency(app: Flask) -> None:
    """Keep @idempotent views' outcomes in the database for IDEMPOTENCY_TTL seconds."""
    postgresql = get_engine(app).dialect.name == "postgresql"
    store = DatabaseStore(app.config["IDEMPOTENCY_TTL"], advisory_locks=postgresql)
    app.extensions[EXTENSION] = Idempotency(store)
