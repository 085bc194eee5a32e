"""Paginated results, page-number and cursor: `meta`, `links` and the RFC 8288 Link header.

Cursors are opaque: a signed (HMAC, SECRET_KEY) list of the last row's sort values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlencode

import voluptuous as vol
from itsdangerous import BadData, URLSafeSerializer
from werkzeug.sansio.utils import get_current_url

from myapp.core.errors import InvalidParameters
from myapp.core.request import api_request, current_api_app, url_root
from myapp.core.result import ListResult
from myapp.core.validators import Integer, String

MAX_PER_PAGE = 100
#: The query schema of page-number lists; merge it into a route's own @queryschema.
PAGE_QUERY: dict[Any, Any] = {
    vol.Optional("page", default=1): Integer(1, 2**31 - 1),
    vol.Optional("per_page", default=20): Integer(1, MAX_PER_PAGE),
}


def _query_value(value: Any) -> str:
    """A query value as urlencode writes it; digits need no quoting, and page numbers are ints."""
    return str(value) if type(value) is int else quote_plus(str(value))


@functools.cache  # the names come from code ("page", "cursor"), never from a client
def _query_prefix(name: str) -> str:
    return quote_plus(name) + "="


# Werkzeug quotes the URL, then unquotes it back to an IRI: several microseconds
# for a value that only depends on these four strings. Bounded, since the host
# and path come from the client.
_base_url = functools.lru_cache(maxsize=1024)(get_current_url)


def _query_slots(replaced: tuple[str, ...]) -> tuple[str, list[tuple[bool, str]]]:
    """This request's URL without its query, and the query as slots.

    A slot is (False, a kept parameter's encoded text) or (True, the name of a
    replaced one): where the name first appears, or at the end when it is new.
    """
    current = api_request()
    slots: list[tuple[bool, str]] = []
    for name, value in current.args.items(multi=True):
        if name not in replaced:
            slots.append((False, urlencode([(name, value)])))
        elif (True, name) not in slots:
            slots.append((True, name))
    slots += [(True, name) for name in replaced if (True, name) not in slots]
    return _base_url(*url_root(current), current.path), slots


def url_maker(*replaced: str) -> Callable[..., str]:
    """Build this request's absolute URL with `replaced` parameters set anew, the rest kept.

    Parameters keep their order (new ones go last), and the kept ones are encoded
    once, however many links a page needs. A replaced parameter left out of a
    call is left out of the URL.
    """
    base, slots = _query_slots(replaced)

    def url(**values: Any) -> str:
        parts = [
            _query_prefix(item) + _query_value(values[item]) if is_name else item
            for is_name, item in slots
            if not is_name or item in values
        ]
        return f"{base}?{'&'.join(parts)}"

    return url


def url_template(vary: str, /, **fixed: Any) -> Callable[[Any], str]:
    """This request's URL as url_maker(vary, *fixed) builds it, with only `vary` changing.

    The text either side of `vary`'s value is built once, so each link costs
    one formatted value: a page-number list makes five links that differ in
    `page` alone.
    """
    base, slots = _query_slots((vary, *fixed))
    before: list[str] = []
    after: list[str] = []
    side = before
    for is_name, item in slots:
        if is_name and item == vary:
            side = after
        else:
            side.append(_query_prefix(item) + _query_value(fixed[item]) if is_name else item)
    head = base + "?" + "".join(part + "&" for part in before) + _query_prefix(vary)
    tail = "".join("&" + part for part in after)
    return lambda value: head + _query_value(value) + tail


class PageResult(ListResult):
    """One page of a page-number list: `data`, `meta` (page, per_page, total, pages), links."""

    __slots__ = ()

    def __init__(self, items: list[Any], *, page: int, per_page: int, total: int):
        pages = math.ceil(total / per_page)
        meta = {"page": page, "per_page": per_page, "total": total, "pages": pages}
        last = max(pages, 1)
        url = url_template("page", per_page=per_page)
        links = {"self": url(page), "first": url(1)}
        if page > 1:
            links["prev"] = url(min(page - 1, last))
        if page < pages:
            links["next"] = url(page + 1)
        links["last"] = url(last)
        super().__init__(items, meta, links)


#: The query schema of cursor lists; merge it into a route's own @queryschema.
CURSOR_QUERY: dict[Any, Any] = {
    vol.Optional("limit", default=20): Integer(1, MAX_PER_PAGE),
    vol.Optional("cursor"): String(1, 1000),
}


def _cursor_serializer(scope: str) -> URLSafeSerializer:
    secret = current_api_app().config["SECRET_KEY"]
    return URLSafeSerializer(secret, salt=f"myapp.cursor:{scope}")


def encode_cursor(position: list[Any], scope: str) -> str:
    """Sign a keyset position (the last row's sort values) for one list and one caller.

    `scope` names what the cursor is valid for (the list, its owner, its filters), so
    a cursor carried to another list, user or filter is rejected like a forged one.
    """
    return _cursor_serializer(scope).dumps(position)


def decode_cursor(token: str, scope: str) -> list[Any]:
    """Verify and unpack a cursor; a bad, tampered or foreign one is a 400 naming `cursor`."""
    try:
        position = _cursor_serializer(scope).loads(token)
    except BadData:
        position = None
    if not isinstance(position, list):
        raise InvalidParameters(
            "1 parameter is invalid.",
            errors=[{"parameter": "cursor", "detail": "is not a cursor this list gave out"}],
        )
    return position


class CursorResult(ListResult):
    """One page of a keyset list: `data`, `meta` (limit, has_more, next_cursor), links."""

    __slots__ = ()

    def __init__(self, items: list[Any], *, limit: int, next_cursor: str | None):
        meta: dict[str, Any] = {"limit": limit, "has_more": next_cursor is not None}
        url = url_maker("limit", "cursor")
        cursor = api_request().args.get("cursor")
        links = {"self": url(limit=limit, cursor=cursor) if cursor else url(limit=limit)}
        if next_cursor is not None:
            meta["next_cursor"] = next_cursor
            links["next"] = url(limit=limit, cursor=next_cursor)
        super().__init__(items, meta, links)
