"""flask-smorest as its documentation teaches: MethodViews, marshmallow, @paginate with a Page.

Its pagination parameter is `page_size` (not `per_page`) and its page metadata,
total included, travels in the X-Pagination header.
"""

from __future__ import annotations

import itertools
from typing import Any

import marshmallow as ma
from flask import Flask
from flask.views import MethodView
from flask_smorest import Api, Blueprint, Page

from bench.frameworks.apps.common import ITEM_COUNT, ITEMS, NAME_MAX, PER_PAGE_DEFAULT, TAGS_MAX
from bench.frameworks.apps.flask_plain import flask_limiter


class ItemIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, NAME_MAX))
    email = ma.fields.Email(required=True)
    tags = ma.fields.List(
        ma.fields.String(), load_default=list, validate=ma.validate.Length(max=TAGS_MAX)
    )
    active = ma.fields.Boolean(load_default=True)


class ItemOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    email = ma.fields.String()
    tags = ma.fields.List(ma.fields.String())
    active = ma.fields.Boolean()


class StatusOut(ma.Schema):
    status = ma.fields.String()


def create_app(redis_url: str | None = None, *, ratelimit: bool = True) -> Flask:
    """Build the app; /limited is limited by flask-limiter in Redis when `redis_url` is given."""
    app = Flask(__name__)
    app.config.update(API_TITLE="bench", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    api = Api(app)
    limit = flask_limiter(app, redis_url, ratelimit)
    blp = Blueprint("bench", __name__)
    new_ids = itertools.count(ITEM_COUNT + 1)

    @blp.route("/ping")
    @blp.response(200, StatusOut)
    def ping() -> Any:
        return {"status": "ok"}

    @blp.route("/items")
    class Items(MethodView):
        @blp.response(200, ItemOut(many=True))
        @blp.paginate(Page, page_size=PER_PAGE_DEFAULT)
        def get(self) -> Any:
            return ITEMS  # Page slices it and counts it for X-Pagination

        @blp.arguments(ItemIn)
        @blp.response(201, ItemOut)
        def post(self, data: dict[str, Any]) -> Any:
            return {"id": next(new_ids), **data}

    @blp.route("/limited")
    @limit
    @blp.response(200, StatusOut)
    def limited() -> Any:
        return {"status": "ok"}

    api.register_blueprint(blp)
    return app
