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
from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from myapp.core.idempotency import EXTENSION, Idempotency, IdempotencyKeyInFlight, Outcome
from myapp.db import get_session, utcnow
from myapp.models import IdempotencyRecord

#: Expired records deleted per transaction by `purge_expired`.
PURGE_BATCH = 1000


def _lock_id(scope: str, key: str) -> int:
    """The key's PostgreSQL advisory lock: 64 bits of a hash of scope and key."""
    digest = hashlib.blake2b(f"{scope}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class DatabaseStore:
    """Outcomes in the `idempotency_keys` table, kept `ttl` seconds."""

    def __init__(self, ttl: int) -> None:
        self.ttl = timedelta(seconds=ttl)

    def claim(self, scope: str, key: str) -> Outcome | None:
        """Hold the key for this transaction; its live outcome, or None to run the view."""
        session = get_session()
        if session.get_bind().dialect.name == "postgresql":
            held = session.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(scope, key))))
            if not held:
                raise IdempotencyKeyInFlight()
        record = session.get(IdempotencyRecord, (scope, key))
        if record is None:
            return None
        if record.expires_at <= utcnow():
            session.delete(record)  # the key is free again; this request's outcome replaces it
            session.flush()
            return None
        headers = [(name, value) for name, value in json.loads(record.headers)]
        document = json.loads(record.document)
        return Outcome(scope, key, record.fingerprint, record.status, headers, document)

    def commit(self, outcome: Outcome | None) -> None:
        """Commit the request's writes, with the outcome's record when there is one."""
        session = get_session()
        if outcome is None:
            session.commit()
            return
        session.flush()  # the view's own writes fail as themselves, not as the key's
        session.add(
            IdempotencyRecord(
                scope=outcome.scope,
                key=outcome.key,
                fingerprint=outcome.fingerprint,
                status=outcome.status,
                headers=json.dumps(outcome.headers),
                document=json.dumps(outcome.document),
                expires_at=utcnow() + self.ttl,
            )
        )
        try:
            session.commit()
        except IntegrityError:
            # Another request with the key committed first (possible only if a lock
            # was lost); nothing of this one is kept, and a retry replays that one's.
            session.rollback()
            raise IdempotencyKeyInFlight() from None


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
    app.extensions[EXTENSION] = Idempotency(DatabaseStore(app.config["IDEMPOTENCY_TTL"]))
