"""APIFlask as its documentation teaches: marshmallow schemas in and out, its pagination helper."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from apiflask import APIFlask, PaginationSchema, Schema, pagination_builder
from apiflask.fields import Boolean, Email, Integer, List, Nested, String
from apiflask.validators import Length, Range

from bench.frameworks.apps.common import (
    ITEM_COUNT,
    ITEMS,
    NAME_MAX,
    PER_PAGE_DEFAULT,
    PER_PAGE_MAX,
    TAGS_MAX,
    page_bounds,
    page_count,
)
from bench.frameworks.apps.flask_plain import flask_limiter


class ItemIn(Schema):
    name = String(required=True, validate=Length(1, NAME_MAX))
    email = Email(required=True)
    tags = List(String(), load_default=list, validate=Length(max=TAGS_MAX))
    active = Boolean(load_default=True)


class ItemOut(Schema):
    id = Integer()
    name = String()
    email = String()
    tags = List(String())
    active = Boolean()


class PageQuery(Schema):
    page = Integer(load_default=1, validate=Range(min=1, max=2**31 - 1))
    per_page = Integer(load_default=PER_PAGE_DEFAULT, validate=Range(min=1, max=PER_PAGE_MAX))


class ItemsOut(Schema):
    items = List(Nested(ItemOut))
    pagination = Nested(PaginationSchema)


class StatusOut(Schema):
    status = String()


@dataclass(frozen=True)
class Pagination:
    """The attributes `pagination_builder` reads (Flask-SQLAlchemy's Pagination has them)."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.per_page)

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1


def create_app(redis_url: str | None = None, *, ratelimit: bool = True) -> APIFlask:
    """Build the app; /limited is limited by flask-limiter in Redis when `redis_url` is given."""
    app = APIFlask(__name__, title="bench", version="1")
    limit = flask_limiter(app, redis_url, ratelimit)
    new_ids = itertools.count(ITEM_COUNT + 1)

    @app.get("/ping")
    @app.output(StatusOut)
    def ping() -> Any:
        return {"status": "ok"}

    @app.get("/items")
    @app.input(PageQuery, location="query")
    @app.output(ItemsOut)
    def list_items(query_data: dict[str, int]) -> Any:
        page, per_page = query_data["page"], query_data["per_page"]
        start, end = page_bounds(page, per_page)
        pagination = Pagination(page, per_page, ITEM_COUNT)
        return {"items": ITEMS[start:end], "pagination": pagination_builder(pagination)}

    @app.post("/items")
    @app.input(ItemIn)
    @app.output(ItemOut, status_code=201)
    def create_item(json_data: dict[str, Any]) -> Any:
        return {"id": next(new_ids), **json_data}

    @app.get("/limited")
    @limit
    @app.output(StatusOut)
    def limited() -> Any:
        return {"status": "ok"}

    return app
