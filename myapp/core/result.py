"""ApiResult: what a view returns, and what a unit test asserts on without HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for
from werkzeug.datastructures import Headers

from myapp.core.request import current_api_app


class ApiResult:
    """A view's successful outcome: a value for the `data` envelope, a status and headers."""

    __slots__ = ("headers", "status", "value")

    def __init__(self, value: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        self.value = value
        self.status = status
        self.headers = Headers(headers) if headers else Headers()

    @classmethod
    def created(cls, value: Any, endpoint: str, **values: Any) -> ApiResult:
        """A 201 whose Location is the absolute URL of `endpoint` built with `values`.

        Under PUBLIC_URL when it is set, else under the request's own host.
        """
        public: str | None = current_api_app().config["PUBLIC_URL"]
        if public is None:
            location = url_for(endpoint, _external=True, **values)
        else:
            location = public.rstrip("/") + url_for(endpoint, **values)
        return cls(value, 201, {"Location": location})

    def envelope(self) -> dict[str, Any]:
        """Return the JSON document this result is rendered as."""
        return {"data": self.value}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.value!r}>"


def link_header(links: Mapping[str, str]) -> str:
    """Format links as an RFC 8288 Link header value."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


class ListResult(ApiResult):
    """A page of a list: `data`, `meta` and `links`, the links also sent as a Link header."""

    __slots__ = ("links", "meta")

    def __init__(self, items: list[Any], meta: dict[str, Any], links: dict[str, str]):
        super().__init__(items)
        self.meta = meta
        self.links = links
        self.headers["Link"] = link_header(links)

    def envelope(self) -> dict[str, Any]:
        """The list document: data, meta and links."""
        return {"data": self.value, "meta": self.meta, "links": self.links}
