"""Email aliases: addresses a user hands out instead of their own, switchable off."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import voluptuous as vol
from flask import Blueprint, current_app

from myapp.auth import current_user, require_admin, require_auth
from myapp.core import ApiResult, Boolean, Email, NotFound, String, dataschema, queryschema
from myapp.core.conditional import add_etag, conditional, require_match, with_etag
from myapp.core.idempotency import idempotent
from myapp.core.openapi import documents
from myapp.core.pagination import CURSOR_QUERY, CursorResult, decode_cursor, encode_cursor
from myapp.db import get_session
from myapp.models import ALIAS_SCHEMA, Alias
from myapp.services import aliases

bp = Blueprint("aliases", __name__, url_prefix="/v1/aliases")


class DomainRule:
    """A schema validator for one of the service's domain rules, under this app's config.

    It runs inside the schema so a body's every problem is reported at once, and
    describes itself to the OpenAPI document as a pattern on the domain.
    """

    def __init__(self, problem: Callable[[str, Sequence[str]], str | None], at_alias: bool):
        self.problem, self.at_alias = problem, at_alias

    def __call__(self, value: str) -> str:
        message = self.problem(value, current_app.config["ALIAS_DOMAINS"])
        if message is not None:
            raise vol.Invalid(message)
        return value

    def json_schema(self) -> dict[str, Any]:
        """A pattern matching addresses at (or, negated, not at) the alias domains."""
        domains = "|".join(_any_case(d) for d in current_app.config["ALIAS_DOMAINS"])
        pattern = {"pattern": f"@({domains})$"}
        return pattern if self.at_alias else {"not": pattern}


def _any_case(text: str) -> str:
    # JSON Schema patterns have no case-insensitive flag; domains are compared lowercased.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in text)


ADDRESS = vol.All(Email(), DomainRule(aliases.address_problem, at_alias=True))
TARGET = vol.All(Email(), DomainRule(aliases.target_problem, at_alias=False))
DESCRIPTION = String(0, 200)
NEW_ALIAS = {
    vol.Optional("address"): ADDRESS,
    "target": TARGET,
    vol.Optional("description"): DESCRIPTION,
    vol.Optional("enabled"): Boolean(),
}
# The address and the owner never change.
CHANGES = {
    vol.Optional("target"): TARGET,
    vol.Optional("description"): DESCRIPTION,
    vol.Optional("enabled"): Boolean(),
}
LIST_QUERY = {**CURSOR_QUERY, vol.Optional("enabled"): Boolean(), vol.Optional("q"): String(1, 100)}


def get_alias_or_404(alias_id: int, *, lock: bool = False) -> Alias:
    """The caller's alias; anyone else's is a 404 exactly like a missing one."""
    alias = aliases.get_alias(get_session(), current_user().id, alias_id, lock=lock)
    if alias is None:
        raise NotFound()
    return alias


def _scope(query: dict[str, Any]) -> str:
    # A cursor is only good for the list, owner and filters it came from.
    filters = json.dumps([query.get("enabled"), query.get("q")])
    return f"aliases:{current_user().id}:{filters}"


@bp.post("")
@documents(ALIAS_SCHEMA, status=201, errors=(409,), etag=True)
@require_auth
@dataschema(NEW_ALIAS, max_body=8192)
@idempotent
def create_alias(data: dict[str, Any]) -> ApiResult:
    """Create an alias at a chosen address, or at a generated one.

    Safe to retry with an Idempotency-Key: the retry gets the first answer again.
    """
    config = current_app.config
    alias = aliases.create_alias(
        get_session(),
        current_user().id,
        domains=config["ALIAS_DOMAINS"],
        quota=config["ALIAS_QUOTA"],
        **data,
    )
    return add_etag(ApiResult.created(alias.to_dict(), "aliases.get_alias", alias_id=alias.id))


@bp.get("")
@documents(ALIAS_SCHEMA, pages="cursor")
@require_auth
@queryschema(LIST_QUERY)
def list_aliases(query: dict[str, Any]) -> CursorResult:
    """The caller's aliases, newest first, a keyset page at a time."""
    after = None
    if "cursor" in query:
        created_at, alias_id = decode_cursor(query["cursor"], _scope(query))
        after = (datetime.fromisoformat(created_at), alias_id)
    filters = {"enabled": query.get("enabled"), "q": query.get("q")}
    items, more = aliases.list_aliases(
        get_session(), current_user().id, limit=query["limit"], after=after, **filters
    )
    last = items[-1] if items and more else None
    cursor = encode_cursor([last.created_at.isoformat(), last.id], _scope(query)) if last else None
    return CursorResult([a.to_dict() for a in items], limit=query["limit"], next_cursor=cursor)


@bp.get("/resolve")
@documents({"address": str, "target": str}, errors=(404,))
@require_admin
@queryschema({"address": Email()})
def resolve_alias(query: dict[str, str]) -> ApiResult:
    """Where mail to an address goes: 404 unless it is an enabled alias (admins only)."""
    alias = aliases.resolve(get_session(), query["address"])
    if alias is None:
        raise NotFound()
    return ApiResult({"address": alias.address, "target": alias.target})


@bp.get("/<id:alias_id>")
@documents(ALIAS_SCHEMA, etag=True)
@require_auth
def get_alias(alias_id: int) -> ApiResult:
    """One alias, with a strong ETag; 304 when If-None-Match has it."""
    return conditional(get_alias_or_404(alias_id).to_dict())


@bp.patch("/<id:alias_id>")
@documents(ALIAS_SCHEMA, etag=True)
@require_auth
@dataschema(CHANGES, max_body=8192)
def update_alias(alias_id: int, data: dict[str, Any]) -> ApiResult:
    """Change target, description or enabled; 412 when If-Match is stale."""
    alias = get_alias_or_404(alias_id, lock=True)
    require_match(alias.to_dict())
    domains = current_app.config["ALIAS_DOMAINS"]
    return with_etag(aliases.update_alias(get_session(), alias, data, domains=domains).to_dict())


@bp.delete("/<id:alias_id>")
@documents(status=204, etag=True)
@require_auth
def delete_alias(alias_id: int) -> ApiResult:
    """Delete an alias; 412 when If-Match is stale."""
    alias = get_alias_or_404(alias_id, lock=True)
    require_match(alias.to_dict())
    aliases.delete_alias(get_session(), alias)
    return ApiResult(None, status=204)
