"""The floor: one WSGI callable, a dict of routes, json and hand validation. No limiter."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from bench.frameworks.apps.common import (
    ITEM_COUNT,
    ITEMS,
    page_bounds,
    page_count,
    parse_page_args,
    validate_item,
)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
_STATUS = {
    200: "200 OK",
    201: "201 Created",
    400: "400 Bad Request",
    404: "404 Not Found",
    422: "422 Unprocessable Content",
}


def create_app(redis_url: str | None = None, *, ratelimit: bool = True) -> Callable[..., Any]:
    """Build the callable; it has no limiter, so both arguments are ignored."""
    new_ids = itertools.count(ITEM_COUNT + 1)

    def ping(environ: Environ) -> tuple[int, Any]:
        return 200, {"status": "ok"}

    def list_items(environ: Environ) -> tuple[int, Any]:
        args = parse_qs(environ.get("QUERY_STRING", ""))
        page, per_page, errors = parse_page_args(
            args.get("page", [None])[-1], args.get("per_page", [None])[-1]
        )
        if errors:
            return 400, {"errors": errors}
        start, end = page_bounds(page, per_page)
        meta = {"page": page, "per_page": per_page, "total": ITEM_COUNT}
        return 200, {"items": ITEMS[start:end], **meta, "pages": page_count(per_page)}

    def create_item(environ: Environ) -> tuple[int, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(length))
        except ValueError:
            return 400, {"errors": {"": "the body is not JSON"}}
        item, errors = validate_item(body)
        if errors:
            return 422, {"errors": errors}
        return 201, {"id": next(new_ids), **item}

    routes = {
        ("GET", "/ping"): ping,
        ("GET", "/items"): list_items,
        ("POST", "/items"): create_item,
    }

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        view = routes.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        status, document = view(environ) if view else (404, {"error": "not found"})
        body = json.dumps(document).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(_STATUS[status], headers)
        return [body]

    return app
