"""The stacks, the endpoints they all serve, and the contract every answer must meet.

Both benchmarks check one answer per stack and endpoint with `check` before
timing anything, so a stack that skips work (no total, no validation) fails the
run instead of winning it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.frameworks.apps.common import ITEM_COUNT, PER_PAGE_DEFAULT

LIST_PAGE = 3


@dataclass(frozen=True)
class Stack:
    """One framework, how it is called in-process, and what serves it over HTTP."""

    name: str
    module: str
    interface: str  # "wsgi", or "asgi" for FastAPI
    #: The Redis limiter on /limited, or None when the stack has none.
    limiter: str | None = None
    list_query: str = f"page={LIST_PAGE}&per_page={PER_PAGE_DEFAULT}"
    #: Other builds of /limited measured in-process, named in LIMITER_VARIANTS.
    limiter_variants: tuple[str, ...] = ()

    def factory(self) -> Callable[..., Any]:
        """The module's `create_app(redis_url=None, *, ratelimit=True)`."""
        return importlib.import_module(self.module).create_app  # type: ignore[no-any-return]


def _apps(name: str) -> str:
    return f"bench.frameworks.apps.{name}"


STACKS = (
    Stack("bare WSGI", _apps("bare_wsgi"), "wsgi"),
    Stack(
        "Flask",
        _apps("flask_plain"),
        "wsgi",
        limiter="flask-limiter",
        limiter_variants=("no headers", "EVALSHA only", "GCRA EVALSHA only"),
    ),
    Stack("myapp", _apps("myapp_stack"), "wsgi", limiter="myapp (Redis GCRA)"),
    Stack("APIFlask", _apps("apiflask_stack"), "wsgi", limiter="flask-limiter"),
    Stack(
        "flask-smorest",
        _apps("smorest_stack"),
        "wsgi",
        limiter="flask-limiter",
        list_query=f"page={LIST_PAGE}&page_size={PER_PAGE_DEFAULT}",
    ),
    Stack("FastAPI", _apps("fastapi_stack"), "asgi"),
)
#: References for the limiters, not stacks of their own. flask-limiter sends no rate-limit
#: headers by default, and then needs one round trip, not three (not myapp's contract,
#: so not judged). "EVALSHA only" and "GCRA EVALSHA only" do one bare round trip in
#: the view and nothing else, of `return 1` and of myapp's limiter's own script: the
#: floors of a one-round-trip limiter inside a request, where a round trip costs more
#: than in the tight loops of the bare EVALSHA rows.
LIMITER_VARIANTS: dict[str, dict[str, Any]] = {
    "no headers": {"limiter_headers": False},
    "EVALSHA only": {"only_evalsha": "return 1"},
    "GCRA EVALSHA only": {"only_evalsha": "gcra"},
}
BASELINE = "Flask"
OURS = "myapp"
#: The least a WSGI app can do: what myapp is measured against on its own server.
FLOOR = "bare WSGI"

VALID_ITEM = {"name": "Widget", "email": "ann@example.com", "tags": ["red", "green"]}
# Three bad fields: every stack must report at least the name and the email.
INVALID_ITEM = {"name": "", "email": "not-an-email", "tags": "red"}


@dataclass(frozen=True)
class Endpoint:
    """One request every stack answers."""

    key: str
    method: str
    path: str
    body: bytes | None = None

    def query(self, stack: Stack) -> str:
        """The query string this stack's list takes (flask-smorest names per_page page_size)."""
        return stack.list_query if self.key == "list" else ""

    @property
    def label(self) -> str:
        return {
            "ping": "GET /ping",
            "list": "GET /items",
            "create": "POST /items",
            "invalid": "POST /items (invalid)",
            "limited": "GET /limited",
        }[self.key]


ENDPOINTS = (
    Endpoint("ping", "GET", "/ping"),
    Endpoint("list", "GET", "/items"),
    Endpoint("create", "POST", "/items", json.dumps(VALID_ITEM).encode()),
    Endpoint("invalid", "POST", "/items", json.dumps(INVALID_ITEM).encode()),
    Endpoint("limited", "GET", "/limited"),
)
BY_KEY = {endpoint.key: endpoint for endpoint in ENDPOINTS}


def endpoints_for(stack: Stack) -> list[Endpoint]:
    """The endpoints this stack serves: /limited only where it has a Redis limiter."""
    return [e for e in ENDPOINTS if e.key != "limited" or stack.limiter]


def _find(document: Any, predicate: Callable[[Any], bool]) -> bool:
    """Whether any value nested in the document satisfies the predicate."""
    stack = [document]
    while stack:
        value = stack.pop()
        if predicate(value):
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _page_of_items(value: Any) -> bool:
    first = (LIST_PAGE - 1) * PER_PAGE_DEFAULT + 1
    expected = list(range(first, first + PER_PAGE_DEFAULT))
    return (
        isinstance(value, list)
        and all(isinstance(item, dict) for item in value)
        and [item.get("id") for item in value] == expected
        and all({"name", "email", "tags", "active"} <= item.keys() for item in value)
    )


class ContractBroken(Exception):
    """A stack's answer does not keep the contract every stack must keep."""


def check(endpoint: Endpoint, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ContractBroken unless the answer keeps the shared contract."""
    lowered = {name.lower(): value for name, value in headers.items()}

    def require(condition: bool, what: str) -> None:
        if not condition:
            raise ContractBroken(f"{endpoint.label}: {what} (status {status}, body {body[:300]!r})")

    require(lowered.get("content-type", "").split(";")[0].endswith("json"), "not JSON")
    document = json.loads(body)
    if endpoint.key in ("ping", "limited"):
        require(status == 200, "expected 200")
        require(_find(document, lambda v: v == "ok"), "no status ok")
    if endpoint.key == "limited":
        require("x-ratelimit-limit" in lowered or "ratelimit" in lowered, "no limit headers")
    if endpoint.key == "list":
        require(status == 200, "expected 200")
        require(_find(document, _page_of_items), "not items 41 to 60")
        # The total is in the body, or (flask-smorest) in the X-Pagination header.
        meta = json.loads(lowered.get("x-pagination", "{}"))
        require(
            meta.get("total") == ITEM_COUNT
            or _find(document, lambda v: isinstance(v, dict) and v.get("total") == ITEM_COUNT),
            "no total",
        )
    if endpoint.key == "create":
        created = {**VALID_ITEM, "active": True}
        require(status == 201, "expected 201")
        require(
            _find(
                document,
                lambda v: isinstance(v, dict) and "id" in v and created.items() <= v.items(),
            ),
            "not the created item with an id and active defaulting to true",
        )
    if endpoint.key == "invalid":
        require(400 <= status < 500, "expected 4xx")
        text = body.decode()
        require("name" in text and "email" in text, "the name and the email not both reported")
