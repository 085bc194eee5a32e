"""FastAPI as its documentation teaches: async views, pydantic models in and out. No limiter.

Input models forbid unknown fields and are strict (a JSON "true" string is not a
boolean), as myapp's schemas are; email addresses use pydantic's EmailStr.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field

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


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
    email: EmailStr
    tags: Annotated[list[str], Field(max_length=TAGS_MAX)] = []
    active: bool = True


class Item(BaseModel):
    id: int
    name: str
    email: str
    tags: list[str]
    active: bool


class ItemPage(BaseModel):
    items: list[Item]
    page: int
    per_page: int
    total: int
    pages: int


class Status(BaseModel):
    status: str


def create_app(redis_url: str | None = None, *, ratelimit: bool = True) -> FastAPI:
    """Build the app; it has no limiter, so both arguments are ignored."""
    app = FastAPI()
    new_ids = itertools.count(ITEM_COUNT + 1)

    @app.get("/ping", response_model=Status)
    async def ping() -> Any:
        return {"status": "ok"}

    @app.get("/items", response_model=ItemPage)
    async def list_items(
        page: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=PER_PAGE_MAX)] = PER_PAGE_DEFAULT,
    ) -> Any:
        start, end = page_bounds(page, per_page)
        return {
            "items": ITEMS[start:end],
            "page": page,
            "per_page": per_page,
            "total": ITEM_COUNT,
            "pages": page_count(per_page),
        }

    @app.post("/items", response_model=Item, status_code=201)
    async def create_item(item: ItemIn) -> Any:
        return {"id": next(new_ids), **item.model_dump()}

    return app
