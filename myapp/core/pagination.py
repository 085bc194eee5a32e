"""Paginated results: `meta`, `links` and the RFC 8288 Link header, built in one place."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import voluptuous as vol
from flask import request

from myapp.core.api import ApiResult
from myapp.core.validators import Integer

MAX_PER_PAGE = 100
#: The query schema of page-number lists; merge it into a route's own @queryschema.
PAGE_QUERY: dict[Any, Any] = {
    vol.Optional("page", default=1): Integer(1, 2**31 - 1),
    vol.Optional("per_page", default=20): Integer(1, MAX_PER_PAGE),
}


def page_url(**changes: Any) -> str:
    """This request's absolute URL with some query parameters replaced, the rest kept."""
    args = request.args.to_dict(flat=False)
    args.update({name: [str(value)] for name, value in changes.items()})
    return f"{request.base_url}?{urlencode(args, doseq=True)}"


def link_header(links: dict[str, str]) -> str:
    """Format links as an RFC 8288 Link header value."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


class PageResult(ApiResult):
    """One page of a page-number list: `data`, `meta` (page, per_page, total, pages), links."""

    __slots__ = ("links", "meta")

    def __init__(self, items: list[Any], *, page: int, per_page: int, total: int):
        super().__init__(items)
        pages = math.ceil(total / per_page)
        self.meta = {"page": page, "per_page": per_page, "total": total, "pages": pages}
        last = max(pages, 1)
        links = {"self": page_url(page=page, per_page=per_page)}
        links["first"] = page_url(page=1, per_page=per_page)
        if page > 1:
            links["prev"] = page_url(page=min(page - 1, last), per_page=per_page)
        if page < pages:
            links["next"] = page_url(page=page + 1, per_page=per_page)
        links["last"] = page_url(page=last, per_page=per_page)
        self.links = links
        self.headers["Link"] = link_header(links)

    def envelope(self) -> dict[str, Any]:
        """The list document: data, meta and links."""
        return {"data": self.value, "meta": self.meta, "links": self.links}
