"""Plain Flask doing the bare minimum: jsonify, hand validation, flask-limiter on /limited."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from bench.floors import TRIVIAL_SCRIPT, bare_evalsha
from bench.frameworks.apps.common import (
    ITEM_COUNT,
    ITEMS,
    LIMIT_PER_MINUTE,
    page_bounds,
    page_count,
    parse_page_args,
    validate_item,
)
from myapp.core.limiter_backends import GCRA_SCRIPT, Limit

LIMIT = f"{LIMIT_PER_MINUTE} per minute"
#: The floors' scripts: a trivial one, and myapp's limiter's own (GCRA).
FLOOR_SCRIPTS = {"return 1": TRIVIAL_SCRIPT, "gcra": GCRA_SCRIPT}
#: The limit the GCRA floor's arguments come from: myapp's limit on /limited.
FLOOR_LIMIT = Limit(LIMIT_PER_MINUTE, 60, "floor")


def flask_limiter(
    app: Flask, redis_url: str | None, enabled: bool, headers: bool = True
) -> Callable[[Any], Any]:
    """Install flask-limiter on Redis and return its decorator, or a no-op without Redis.

    Headers are on because myapp always sends them; the strategy is flask-limiter's
    default and cheapest (fixed window).
    """
    if not (redis_url and enabled):
        return lambda view: view
    limiter = Limiter(get_remote_address, app=app, storage_uri=redis_url, headers_enabled=headers)
    return limiter.limit(LIMIT)


def evalsha_only(redis_url: str, script: str) -> Callable[[Any], Any]:
    """Not a limiter: one bare redis-py EVALSHA of `script` per request, made in the view.

    Timed inside a request, it is the in-context floor of a one-round-trip limiter.
    """
    call = bare_evalsha(redis_url, script, FLOOR_LIMIT)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call()
            return view(*args, **kwargs)

        return wrapper

    return decorate


def create_app(
    redis_url: str | None = None,
    *,
    ratelimit: bool = True,
    limiter_headers: bool = True,
    only_evalsha: str | None = None,
) -> Flask:
    """Build the app; /limited is limited in Redis only when `redis_url` is given.

    The keywords after `ratelimit` build the in-process benchmark's reference
    variants: flask-limiter without headers, and a bare EVALSHA of one of FLOOR_SCRIPTS
    (named by its key) instead of a limiter.
    """
    app = Flask(__name__)
    if redis_url and ratelimit and only_evalsha:
        limit = evalsha_only(redis_url, FLOOR_SCRIPTS[only_evalsha])
    else:
        limit = flask_limiter(app, redis_url, ratelimit, limiter_headers)
    new_ids = itertools.count(ITEM_COUNT + 1)

    @app.get("/ping")
    def ping() -> Any:
        return jsonify(status="ok")

    @app.get("/items")
    def list_items() -> Any:
        page, per_page, errors = parse_page_args(
            request.args.get("page"), request.args.get("per_page")
        )
        if errors:
            return jsonify(errors=errors), 400
        start, end = page_bounds(page, per_page)
        return jsonify(
            items=ITEMS[start:end],
            page=page,
            per_page=per_page,
            total=ITEM_COUNT,
            pages=page_count(per_page),
        )

    @app.post("/items")
    def create_item() -> Any:
        item, errors = validate_item(request.get_json())
        if errors:
            return jsonify(errors=errors), 422
        return jsonify(id=next(new_ids), **item), 201

    @app.get("/limited")
    @limit
    def limited() -> Any:
        return jsonify(status="ok")

    return app
