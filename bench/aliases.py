"""Deep pages: keyset (cursor) vs OFFSET on one user's 1,000,000 aliases.

Fills a fresh database (a SQLite file by default, or --database-url, e.g. a
throwaway PostgreSQL), then times the first page and a page DEPTH rows deep,
through the service's own keyset query and through the same query with OFFSET.
Prints the deep/first ratio for each: the cursor's should stay near 1.

    python bench/aliases.py [--rows 1000000] [--depth 500000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from myapp.db import Base, make_engine
from myapp.models import Alias, User
from myapp.services.aliases import list_aliases

LIMIT = 20


def fill(session: Session, rows: int) -> int:
    """Insert one user and `rows` aliases (every tenth pair shares a created_at)."""
    user = User(email="bench@example.com", name="Bench", password_hash="x", is_admin=False)
    session.add(user)
    session.commit()
    start = datetime(2026, 1, 1)
    batch = []
    for i in range(rows):
        moment = start + timedelta(milliseconds=i - (i % 10 == 1))
        batch.append(
            {
                "owner_id": user.id,
                "address": f"a{i}@alias.example",
                "target": "bench@example.com",
                "description": "",
                "enabled": True,
                "created_at": moment,
                "updated_at": moment,
            }
        )
        if len(batch) == 50_000:
            session.execute(insert(Alias), batch)
            batch.clear()
    if batch:
        session.execute(insert(Alias), batch)
    session.commit()
    return user.id


def timed(action, repeats: int) -> float:
    """Median milliseconds of `repeats` runs (after one warm-up)."""
    action()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{workdir.name}/bench.sqlite3"
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        started = time.perf_counter()
        owner = fill(session, args.rows)
        took = time.perf_counter() - started
        print(f"filled {args.rows:,} aliases in {took:.1f} s ({engine.dialect.name})")

        newest_first = (
            select(Alias)
            .where(Alias.owner_id == owner)
            .order_by(Alias.created_at.desc(), Alias.id.desc())
        )
        before_deep = session.execute(
            newest_first.with_only_columns(Alias.created_at, Alias.id)
            .offset(args.depth - 1)
            .limit(1)
        ).one()
        position = (before_deep.created_at, before_deep.id)

        def cursor_page(after):
            return lambda: list_aliases(session, owner, limit=LIMIT, after=after)

        def offset_page(offset):
            return lambda: list(session.scalars(newest_first.offset(offset).limit(LIMIT + 1)))

        # The deep pages are the same rows either way.
        deep_ids = [a.id for a in cursor_page(position)()[0]]
        assert deep_ids == [a.id for a in offset_page(args.depth)()[:LIMIT]]

        results = {
            "cursor": (
                timed(cursor_page(None), args.repeats),
                timed(cursor_page(position), args.repeats),
            ),
            "offset": (
                timed(offset_page(0), args.repeats),
                timed(offset_page(args.depth), args.repeats),
            ),
        }
    engine.dispose()
    workdir.cleanup()

    print(f"page of {LIMIT}, {args.depth:,} rows deep; median of {args.repeats} runs")
    print(f"{'method':<8} {'first ms':>9} {'deep ms':>9} {'deep/first':>11}")
    for name, (first, deep) in results.items():
        print(f"{name:<8} {first:>9.2f} {deep:>9.2f} {deep / first:>11.2f}")


if __name__ == "__main__":
    main()
