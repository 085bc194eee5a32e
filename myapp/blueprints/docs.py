"""The API describing itself: the OpenAPI document, and a page for people to read it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, render_template

from myapp.core import NotFound
from myapp.core.openapi import build_openapi, documents

bp = Blueprint("docs", __name__, cli_group=None)

# The reference page has no scripts and loads nothing: inline styles are all it needs.
DOCS_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
# Swagger UI: its files and ours from this app only, no inline script; its stylesheet
# draws icons from data: URIs; try-it-out calls this API.
UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _package_folder(name: str) -> Path:
    """Where an installed package's files are, found without importing it (swagger_ui's
    own code, a Flask integration we do not use, costs 0.1 s to import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package {name} is not installed (requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


# Swagger UI comes from the swagger-ui-py package, which carries its release files
# (Swagger UI 5.25.3 in 25.7.1); the page loads three of them, and our starter.
_SWAGGER_UI = _package_folder("swagger_ui") / "static"
_OURS = Path(__file__).resolve().parents[1] / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER_UI, "text/javascript"),
    "swagger-ui.css": (_SWAGGER_UI, "text/css"),
    "favicon-32x32.png": (_SWAGGER_UI, "image/png"),
    "docs.js": (_OURS, "text/javascript"),
}


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
    """Swagger UI on the OpenAPI document: every operation, and try-it-out with a token."""
    page = render_template("swagger.html", title="myapp")
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": UI_POLICY})


@bp.get("/docs/assets/<name>")
@documents(media_type="text/plain", hidden=True)
def docs_asset(name: str) -> Response:
    """One of the files the Swagger UI page loads, served by the app itself."""
    if name not in ASSETS:
        raise NotFound()
    folder, mimetype = ASSETS[name]
    body = (folder / name).read_bytes()
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "public, max-age=3600"})


@bp.get("/docs/reference")
@documents(media_type="text/html", hidden=True)
def reference() -> Response:
    """A reference of every route without scripts, rendered on the server from the document."""
    page = render_template("docs.html", api=openapi_document(current_app), dumps=json.dumps)
    return Response(page, mimetype="text/html", headers={"Content-Security-Policy": DOCS_POLICY})


@bp.cli.command("openapi", with_appcontext=True)
def print_openapi() -> None:
    """Print the OpenAPI document (sorted, so it diffs well)."""
    click.echo(json.dumps(openapi_document(current_app), sort_keys=True, indent=2))
