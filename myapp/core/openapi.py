"""An OpenAPI 3.1 document generated from the app itself: no per-route hand work.

Routes and methods come from the URL map, path parameters from converters,
bodies and query parameters from @dataschema / @queryschema, security from the
auth decorators' markers, 429 from rate-limit policies. A view may add its
success schema and any other problem statuses with @documents(...).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from werkzeug.routing import Rule
from werkzeug.routing.converters import IntegerConverter, NumberConverter

from myapp.core.deprecation import Deprecation, deprecation_of
from myapp.core.idempotency import HEADER, KEY_PATTERN, REPLAYED
from myapp.core.ratelimit import current_limiter
from myapp.core.routing import IdConverter
from myapp.core.schema import to_json_schema
from myapp.core.validation import MAX_ERRORS

F = TypeVar("F", bound=Callable[..., Any])
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# A rule's argument with its converter's name (and arguments), as Werkzeug reads it.
_CONVERTER = re.compile(r"<(?:([a-zA-Z_][a-zA-Z0-9_]*)(?:\((?:[^)]*)\))?:)?([^<>]+)>")
_SKIPPED_METHODS = {"HEAD", "OPTIONS"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: The rate-limit headers every answer of a limited route carries (docs/contract.md).
RATE_LIMIT_HEADERS = (
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)
#: Why each problem status can happen, as the document says it.
PROBLEM_REASONS = {
    400: "Malformed request: bad JSON, invalid query parameters, or a Host outside TRUSTED_HOSTS.",
    401: "Missing, invalid, expired or revoked bearer token.",
    403: "Authenticated, but not allowed.",
    404: "No such resource, or not yours.",
    409: "Conflicts with an existing resource.",
    412: "If-Match does not match the current ETag.",
    413: "Body larger than the configured maximum.",
    415: "Body is not application/json.",
    422: "Body fails its schema, or the operation is impossible.",
    429: "Rate limited; see Retry-After.",
    503: "A dependency is unavailable; see Retry-After.",
}
#: The two statuses an @idempotent operation answers for its key too, as components.
IDEMPOTENT_RESPONSES = {409: "IdempotentConflict", 422: "IdempotentUnprocessable"}
IDEMPOTENT_REASONS = {
    409: PROBLEM_REASONS[409]
    + " Or a request with the same Idempotency-Key is still running; see Retry-After.",
    422: PROBLEM_REASONS[422]
    + " Or the Idempotency-Key was used for a different request (idempotency-key-reused).",
}


class Named:
    """A data schema with a name: one component schema, referred to wherever it is used."""

    def __init__(self, name: str, schema: Any) -> None:
        self.name, self.schema = name, schema


def named(name: str, schema: Any) -> Named:
    """Give a data schema a name, so every operation that answers with it refers to one
    component (generated clients then have one class for it)."""
    return Named(name, schema)


def documents(
    data: Any = None,
    *,
    status: int = 200,
    errors: tuple[int, ...] = (),
    pages: str | None = None,
    etag: bool = False,
    media_type: str | None = None,
    hidden: bool = False,
) -> Callable[[F], F]:
    """Describe a view's success (a schema for `data`) and extra problem statuses.

    `pages` is "page" or "cursor" for lists; `etag` marks conditional GETs (304)
    and writes that honour If-Match (412); `media_type` marks a view that answers
    with its own document instead of the JSON envelope; `hidden` leaves the route
    out of the document (the document itself, the page that shows it).
    """

    def decorator(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "data": data,
            "status": status,
            "errors": errors,
            "pages": pages,
            "etag": etag,
            "media_type": media_type,
            "hidden": hidden,
        }
        return view

    return decorator


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    """The rule's arguments, typed by the converter classes the URL map names."""
    converters = rule.map.converters
    parameters = []
    for converter_name, name in _CONVERTER.findall(rule.rule):
        converter = converters.get(converter_name or "default", object)
        if issubclass(converter, IdConverter):
            schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
        elif issubclass(converter, IntegerConverter):
            schema = {"type": "integer"}
        elif issubclass(converter, NumberConverter):
            schema = {"type": "number"}
        else:
            schema = {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(schema: Any) -> list[dict[str, Any]]:
    converted = to_json_schema(schema)
    required = set(converted.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in sorted(converted["properties"].items())
    ]


def _data_schema(data: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The schema of `data`; a named one goes into `schemas` and is referred to."""
    if data is None:
        return {}
    if not isinstance(data, Named):
        return to_json_schema(data)
    schema = to_json_schema(data.schema)
    if schemas.setdefault(data.name, schema) != schema:
        raise ValueError(f"two different schemas are named {data.name!r}")
    return {"$ref": f"#/components/schemas/{data.name}"}


def _headers(*names: str) -> dict[str, Any]:
    """References to these response headers (components.headers), by name."""
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _success(view: Any, schemas: dict[str, Any], limited: bool) -> tuple[str, dict[str, Any]]:
    info = getattr(view, "openapi", {})
    status = info.get("status", 200)
    headers = _headers("X-Request-ID")
    if limited:
        headers |= _headers(*RATE_LIMIT_HEADERS)
    if status == 204:
        return "204", {"description": "Done; no body.", "headers": headers}
    if info.get("media_type"):
        return str(status), {"description": "OK", "content": {info["media_type"]: {}}}
    data = _data_schema(info.get("data"), schemas)
    envelope: dict[str, Any] = {
        "type": "object",
        "properties": {"data": data},
        "required": ["data"],
    }
    if info.get("pages"):
        envelope["properties"]["data"] = {"type": "array", "items": data}
        envelope["properties"]["meta"] = {"$ref": f"#/components/schemas/{info['pages']}_meta"}
        envelope["properties"]["links"] = {"$ref": "#/components/schemas/Links"}
        envelope["required"] = ["data", "meta", "links"]
        headers |= _headers("Link")
    if status == 201:
        headers |= _headers("Location")
    if getattr(view, "idempotent", False):
        headers |= _headers(REPLAYED)
    if info.get("etag"):
        headers |= _headers("ETag")
    description = {200: "OK", 201: "Created"}.get(status, "Success")
    return str(status), {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": envelope}},
    }


def _problem_statuses(rule: Rule, view: Any, method: str, policy: Any) -> set[int]:
    info = getattr(view, "openapi", {})
    # Any request can be a 400 (bad query parameters or body, or a Host outside
    # TRUSTED_HOSTS when that is set).
    statuses = {400, *info.get("errors", ())}
    if rule.arguments:
        statuses.add(404)
    if getattr(view, "body_schema", None) is not None:
        statuses |= {413, 415, 422}
    if getattr(view, "requires_auth", False):
        statuses |= {401, 503}  # the token lookup needs the database
    if getattr(view, "requires_admin", False):
        statuses.add(403)
    if getattr(view, "idempotent", False):
        statuses |= {409, 422}
    if policy is not None:
        statuses.add(429)
        if policy.sensitive:
            statuses.add(503)
    if info.get("etag") and method in ("PATCH", "PUT", "DELETE"):
        statuses.add(412)
    return statuses


def _header_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional request header, as an operation's parameter."""
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _conditional_parameters(view: Any, method: str) -> list[dict[str, Any]]:
    """If-None-Match on a GET with an ETag, If-Match on the writes that honour one."""
    if not getattr(view, "openapi", {}).get("etag"):
        return []
    if method == "GET":
        name, use = "If-None-Match", "answer 304 if the resource still has this ETag"
    elif method in ("PATCH", "PUT", "DELETE"):
        name, use = "If-Match", "go ahead only if the resource still has this ETag, else 412"
    else:
        return []
    description = f"An ETag from an earlier answer: {use}."
    return [_header_parameter(name, description, {"type": "string"})]


def _idempotency_parameters(view: Any) -> list[dict[str, Any]]:
    """Idempotency-Key on an @idempotent view."""
    if not getattr(view, "idempotent", False):
        return []
    description = (
        "Your name for this request, so a retry is answered without running it twice: "
        "1 to 255 visible ASCII characters, bare or in double quotes. A retry with the "
        "same key and request gets the first answer again, with Idempotent-Replayed: "
        "true. Successes are kept for IDEMPOTENCY_TTL (24 hours by default)."
    )
    schema = {"type": "string", "minLength": 1, "maxLength": 257, "pattern": KEY_PATTERN}
    return [_header_parameter(HEADER, description, schema)]


def _deprecation_note(notice: Deprecation) -> str:
    """The operation's description of its deprecation, as its headers say it."""
    note = f"Deprecated since {notice.since:%Y-%m-%d}"
    if notice.sunset is not None:
        note += f"; from {notice.sunset:%Y-%m-%d %H:%M} UTC on, a 410 problem"
    if notice.link is not None:
        note += f"; see {notice.link}"
    return note + "."


def _operation(app: Flask, rule: Rule, method: str, schemas: dict[str, Any]) -> dict[str, Any]:
    view: Any = app.view_functions[rule.endpoint]
    parameters = _path_parameters(rule)
    if getattr(view, "query_schema", None) is not None:
        parameters += _query_parameters(view.query_schema)
    parameters += _conditional_parameters(view, method)
    parameters += _idempotency_parameters(view)
    limiter = current_limiter()
    policy = limiter.policy_for(rule.endpoint) if limiter is not None else None
    docstring = inspect.cleandoc(view.__doc__ or rule.endpoint)
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": docstring.splitlines()[0],
        "tags": [rule.endpoint.partition(".")[0]],
        "responses": dict([_success(view, schemas, limited=policy is not None)]),
    }
    # The rest of the docstring; a one-line docstring is its own description.
    description = docstring.partition("\n")[2].strip() or operation["summary"]
    max_body = getattr(view, "max_body", None)
    if max_body is not None:
        refused = f"A body over {max_body:,} bytes is refused with 413 before it is read."
        description = f"{description}\n\n{refused}"
    operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if getattr(view, "body_schema", None) is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": to_json_schema(view.body_schema)}},
        }
    # Public operations say so: no security scheme applies to them.
    operation["security"] = [{"bearerAuth": []}] if getattr(view, "requires_auth", False) else []
    info = getattr(view, "openapi", {})
    if info.get("etag") and method == "GET":
        operation["responses"]["304"] = {
            "description": "Not modified (If-None-Match).",
            "headers": _headers("ETag", "X-Request-ID"),
        }
    keyed = getattr(view, "idempotent", False)
    notice = deprecation_of(app, rule.endpoint)
    if notice is not None:
        operation["deprecated"] = True
        operation["description"] += "\n\n" + _deprecation_note(notice)
        if notice.sunset is not None:
            retired = "Retired: the sunset has passed (unless SERVE_AFTER_SUNSET)."
            operation["responses"]["410"] = _problem_response(retired, _headers("X-Request-ID"))
    for status in sorted(_problem_statuses(rule, view, method, policy)):
        name = IDEMPOTENT_RESPONSES.get(status, str(status)) if keyed else str(status)
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/{name}"}
    return operation


def _error_item(member: str, described: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [member, "detail"],
        "properties": {
            member: {"type": "string", "description": described},
            "detail": {"type": "string", "description": "What is wrong with it."},
        },
        "additionalProperties": False,
    }


def _problem_headers(status: int, keyed: bool = False) -> dict[str, Any]:
    headers = _headers("X-Request-ID")
    if status in (429, 503) or (keyed and status == 409):
        headers |= _headers("Retry-After")
    if status == 429:
        headers |= _headers(*RATE_LIMIT_HEADERS)
    if status == 401:
        headers |= _headers("WWW-Authenticate")
    return headers


def _problem_response(reason: str, headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": reason,
        "headers": headers,
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


def _components(schemas: dict[str, Any]) -> dict[str, Any]:
    link = {"type": "string", "format": "uri"}
    problem_response = {
        str(status): _problem_response(reason, _problem_headers(status))
        for status, reason in PROBLEM_REASONS.items()
    }
    for status, name in IDEMPOTENT_RESPONSES.items():
        headers = _problem_headers(status, keyed=True)
        problem_response[name] = _problem_response(IDEMPOTENT_REASONS[status], headers)
    integer = {"type": "integer", "minimum": 0}
    return {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        "headers": {
            "X-Request-ID": {"schema": {"type": "string"}, "description": "The request's id."},
            "Location": {"schema": link, "description": "The new resource's URL."},
            "ETag": {"schema": {"type": "string"}, "description": "A strong entity tag."},
            "Link": {
                "schema": {"type": "string"},
                "description": "RFC 8288 links to the other pages: first, prev, next, last.",
            },
            "RateLimit": {
                "schema": {"type": "string"},
                "description": 'The binding limit now: "name";r=remaining;t=seconds to full.',
            },
            "RateLimit-Policy": {
                "schema": {"type": "string"},
                "description": 'The route\'s limits: "name";q=quota;w=window seconds.',
            },
            "X-RateLimit-Limit": {"schema": integer, "description": "The binding quota."},
            "X-RateLimit-Remaining": {"schema": integer, "description": "Requests left."},
            "X-RateLimit-Reset": {
                "schema": integer,
                "description": "Seconds until the quota is whole again.",
            },
            "Retry-After": {"schema": integer, "description": "Seconds to wait first."},
            REPLAYED: {
                "schema": {"type": "string", "enum": ["true"]},
                "description": "This answer is the stored one of an earlier request "
                "with the same Idempotency-Key; nothing ran again.",
            },
            "WWW-Authenticate": {
                "schema": {"type": "string"},
                "description": "Bearer, with the error when a token was sent.",
            },
        },
        "responses": problem_response,
        "schemas": {
            **schemas,
            "ProblemError": {
                "oneOf": [
                    _error_item("pointer", "A JSON Pointer (URI fragment) to the body field."),
                    _error_item("parameter", "The query parameter."),
                    _error_item("header", "The request header."),
                ]
            },
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail", "request_id"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                    "request_id": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ProblemError"},
                        "maxItems": MAX_ERRORS,
                    },
                    "error_count": {"type": "integer", "minimum": MAX_ERRORS + 1},
                },
            },
            "Links": {"type": "object", "additionalProperties": link},
            "page_meta": {
                "type": "object",
                "required": ["page", "per_page", "total", "pages"],
                "properties": {
                    name: {"type": "integer", "minimum": 0}
                    for name in ("page", "per_page", "total", "pages")
                },
            },
            "cursor_meta": {
                "type": "object",
                "required": ["limit", "has_more"],
                "properties": {
                    "limit": {"type": "integer", "minimum": 1},
                    "has_more": {"type": "boolean"},
                    "next_cursor": {"type": "string"},
                },
            },
        },
    }


def _tag(app: Flask, endpoint: str) -> dict[str, str]:
    """A blueprint's tag, described by the first line of its module's docstring."""
    name = endpoint.partition(".")[0]
    blueprint = app.blueprints.get(name)
    module = sys.modules.get(blueprint.import_name) if blueprint is not None else None
    doc = inspect.cleandoc((module.__doc__ if module else None) or name)
    return {"name": name, "description": doc.splitlines()[0]}


def build_openapi(app: Flask, *, info: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in the app, in a stable order.

    `info` is the document's info object (title, version, description, contact,
    license). The server is PUBLIC_URL, or the host the document was fetched from.
    """
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, dict[str, str]] = {}
    schemas: dict[str, Any] = {}
    with app.app_context():  # validators may describe themselves from the app's config
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            view = app.view_functions[rule.endpoint]
            if getattr(view, "openapi", {}).get("hidden"):
                continue
            path = _ARGUMENT.sub(r"{\1}", rule.rule)
            for method in sorted((rule.methods or set()) - _SKIPPED_METHODS):
                operation = _operation(app, rule, method, schemas)
                paths.setdefault(path, {})[method.lower()] = operation
            tag = _tag(app, rule.endpoint)
            tags.setdefault(tag["name"], tag)
    server = app.config["PUBLIC_URL"] or "/"
    return {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": server, "description": "This API."}],
        "tags": [tags[name] for name in sorted(tags)],
        "paths": paths,
        "components": _components(schemas),
    }
