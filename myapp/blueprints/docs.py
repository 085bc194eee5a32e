"""The API describing itself: the OpenAPI document, and a page for people to read it."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, render_template

from myapp.core.openapi import build_openapi, documents

bp = Blueprint("docs", __name__, cli_group=None)

# The page has no scripts and loads nothing: inline styles are all it needs.
DOCS_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


DESCRIPTION = """\
Users, bearer tokens and email aliases, as JSON.

Sign up with `POST /v1/users`, take a token with `POST /v1/auth/token`, and send it
as `Authorization: Bearer <token>` on the operations that need one. Every answer is
JSON: a success in `{"data": ...}`, an error as an RFC 9457 problem
(`application/problem+json`) with a `request_id`. Lists are paged (`page`, or a
signed `cursor`) with `Link` headers; resources with an `ETag` honour
`If-None-Match` and `If-Match`; every route is rate limited (`RateLimit` headers).
"""
CONTACT = {"name": "myapp maintainers", "url": "https://myapp.dev"}
LICENSE = {"name": "Proprietary", "url": "https://myapp.dev/license"}


def openapi_document(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI document, built once per app (routes do not change at run time)."""
    if "openapi" not in app.extensions:
        from myapp import __version__

        info = {
            "title": "myapp",
            "version": __version__,
            "description": DESCRIPTION,
            "contact": CONTACT,
            "license": LICENSE,
        }
        app.extensions["openapi"] = build_openapi(app, info=info)
    document: dict[str, Any] = app.extensions["openapi"]
    return document


@bp.get("/openapi.json")
@documents(media_type="application/json", hidden=True)
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API (bare, not in the data envelope)."""
    body = json.dumps(openapi_document(current_app), sort_keys=True, separators=(",", ":"))
    return Response(body, mimetype="application/json")


@bp.get("/docs")
@documents(media_type="text/html", hidden=True)
def docs() -> Response:
    """A human-readable reference of every route, rendered from the OpenAPI document."""
    page = render_template("docs.html", api=openapi_document(current_app), dumps=json.dumps)
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_POLICY})


@bp.cli.command("openapi", with_appcontext=True)
def print_openapi() -> None:
    """Print the OpenAPI document (sorted, so it diffs well)."""
    click.echo(json.dumps(openapi_document(current_app), sort_keys=True, indent=2))
