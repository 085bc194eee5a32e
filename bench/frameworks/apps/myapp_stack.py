"""myapp: the real service from `myapp.create_app`, with a bench blueprint registered on it.

This is how a service built on myapp runs: its config, JSON logging, error
handlers, limiter (in memory, or Redis with `redis_url`), database engine (never
used here), auth identity loader and its own blueprints all stay in place, and
the bench routes are one more blueprint. Every route passes through the
limiter, as in production; /limited has its own policy.

Two settings differ from the defaults: the access log is off, because no peer
logs a line per request either, and the database is an unused in-memory SQLite
so the run leaves no file behind.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import voluptuous as vol
from flask import Blueprint

from bench.frameworks.apps.common import (
    ITEM_COUNT,
    ITEMS,
    LIMIT_PER_MINUTE,
    NAME_MAX,
    TAGS_MAX,
    page_bounds,
)
from myapp import create_app as create_myapp
from myapp.core import ApiFlask, ApiResult, Email, String, dataschema, queryschema
from myapp.core.pagination import PAGE_QUERY, PageResult
from myapp.core.ratelimit import ratelimit as limit

LIMIT = f"{LIMIT_PER_MINUTE}/minute"
ITEM_SCHEMA = {
    "name": String(1, NAME_MAX),
    "email": Email(),
    vol.Optional("tags", default=list): vol.All([str], vol.Length(max=TAGS_MAX)),
    vol.Optional("active", default=True): bool,
}

bp = Blueprint("bench", __name__)
_new_ids = itertools.count(ITEM_COUNT + 1)


@bp.get("/ping")
def ping() -> ApiResult:
    """Answer that the process is up."""
    return ApiResult({"status": "ok"})


@bp.get("/items")
@queryschema(PAGE_QUERY)
def list_items(query: dict[str, int]) -> PageResult:
    """One page of the items, with meta and links."""
    page, per_page = query["page"], query["per_page"]
    start, end = page_bounds(page, per_page)
    return PageResult(ITEMS[start:end], page=page, per_page=per_page, total=ITEM_COUNT)


@bp.post("/items")
@dataschema(ITEM_SCHEMA)
def create_item(data: dict[str, Any]) -> ApiResult:
    """Create an item from a validated body (not stored: the list stays the same)."""
    return ApiResult({"id": next(_new_ids), **data}, status=201)


@bp.get("/limited")
@limit(LIMIT, name="limited")
def limited() -> ApiResult:
    """The same as /ping, under its own rate limit."""
    return ApiResult({"status": "ok"})


def create_app(redis_url: str | None = None, *, ratelimit: bool = True) -> ApiFlask:
    """Build myapp with the bench routes; the limiter is in Redis when `redis_url` is given."""
    app = create_myapp(
        {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "ACCESS_LOG": False,
            "DATABASE_URL": "sqlite://",
            "REDIS_URL": redis_url,
            "RATELIMIT_ENABLED": ratelimit,
            "RATELIMIT_DEFAULT": LIMIT,
        }
    )
    app.register_blueprint(bp)
    return app
