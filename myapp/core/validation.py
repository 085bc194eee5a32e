"""@dataschema and @queryschema: voluptuous schemas whose failures become problem details."""

from __future__ import annotations

import copy
import functools
import heapq
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import voluptuous as vol

from myapp.core.errors import InvalidBody, InvalidParameters, ValidationFailed
from myapp.core.fastpath import Check, Miss, schema_plan
from myapp.core.jsonbody import json_body
from myapp.core.request import api_request, current_api_app
from myapp.core.validators import Boolean, Integer, Number, String

F = TypeVar("F", bound=Callable[..., Any])
# voluptuous's wording for its two structural failures, said the way a client reads it.
_MESSAGES = {"required key not provided": "is required", "extra keys not allowed": "is not allowed"}
_BUILTINS: dict[Any, Callable[[bool], Any]] = {
    int: lambda coerce: Integer(coerce=coerce),
    float: lambda coerce: Number(coerce=coerce),
    bool: lambda coerce: Boolean(coerce=coerce),
    str: lambda coerce: String(),
}


def _strict(node: Any, coerce: bool) -> Any:
    """Swap builtin types for strict validators (a JSON true is not an int).

    With `coerce`, our validators also accept their text form (query strings are text).
    """
    if isinstance(node, dict):
        return {key: _strict(value, coerce) for key, value in node.items()}
    if isinstance(node, list):
        return [_strict(value, coerce) for value in node]
    if isinstance(node, (vol.All, vol.Any)):  # Maybe(x) is Any(None, x)
        return type(node)(*(_strict(value, coerce) for value in node.validators), msg=node.msg)
    if node in _BUILTINS:
        return _BUILTINS[node](coerce)
    if coerce and getattr(node, "coerce", None) is False:
        node = copy.copy(node)
        node.coerce = True
    return node


def compile_schema(schema: Any, *, coerce: bool = False) -> vol.Schema:
    """Build a voluptuous Schema: keys required, unknown keys rejected, types strict.

    Pass a ready `vol.Schema` to choose other rules (say, `extra=vol.ALLOW_EXTRA`).
    """
    if isinstance(schema, vol.Schema):
        return schema
    return vol.Schema(_strict(schema, coerce), required=True, extra=vol.PREVENT_EXTRA)


# Characters a pointer token keeps as they are in a URI fragment (RFC 3986 pchar).
_FRAGMENT_SAFE = "~!$&'()*+,;=:@?"
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_.-]*")


def _pointer_token(part: Any) -> str:
    token = str(part)
    if _PLAIN_TOKEN.fullmatch(token):  # field names and indexes, nearly always
        return token
    return quote(token.replace("~", "~0").replace("/", "~1"), safe=_FRAGMENT_SAFE)


def json_pointer(path: list[Any]) -> str:
    """Return an RFC 6901 JSON Pointer in URI-fragment form for a voluptuous path."""
    return "#" + "".join("/" + _pointer_token(part) for part in path)


def _sort_key(path: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, part) if isinstance(part, int) else (1, str(part)) for part in path)


def _failures(error: vol.MultipleInvalid) -> list[tuple[list[Any], str]]:
    seen: dict[tuple[Any, ...], str] = {}
    for item in error.errors:
        path = [getattr(part, "schema", part) for part in item.path]
        message = item.error_message or "is invalid"
        seen.setdefault(tuple(path), _MESSAGES.get(message, message))
    return [(list(path), seen[path]) for path in sorted(seen, key=_sort_key)]


#: At most this many errors are listed; the detail and `error_count` give them all.
MAX_ERRORS = 50
#: Pointers and parameter names longer than this are cut, the cut marked with "...".
MAX_NAME = 200


def _cut(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[:MAX_NAME] + "..."


def _failed(
    failures: list[tuple[list[Any], str]],
    error: type[ValidationFailed] | type[InvalidParameters],
    noun: str,
    item: Callable[[list[Any], str], dict[str, str]],
    total: int | None = None,
) -> ValidationFailed | InvalidParameters:
    """The problem for these failures: the first MAX_ERRORS in order, and how many in all.

    However many fields a hostile body gets wrong, the problem stays small: at most
    MAX_ERRORS items of at most MAX_NAME characters each. `total` counts failures
    left out of the list passed (the stray keys past the first).
    """
    total = len(failures) if total is None else total
    first = heapq.nsmallest(MAX_ERRORS, failures, key=lambda failure: _sort_key(tuple(failure[0])))
    errors = [item(path, message) for path, message in first]
    if total <= MAX_ERRORS:
        detail = f"1 {noun} is invalid." if total == 1 else f"{total} {noun}s are invalid."
        return error(detail, errors=errors)
    detail = f"{total} {noun}s are invalid; the first {MAX_ERRORS} are listed."
    return error(detail, errors=errors, error_count=total)


def _pointer_item(path: list[Any], message: str) -> dict[str, str]:
    return {"pointer": _cut(json_pointer(path)), "detail": message}


def _parameter_item(path: list[Any], message: str) -> dict[str, str]:
    return {"parameter": _cut(str(path[0]) if path else ""), "detail": message}


def known_keys(schema: vol.Schema) -> frozenset[str] | None:
    """The top-level keys of a dict schema that refuses all others; None for any other schema."""
    node = schema.schema
    if not isinstance(node, dict) or schema.extra != vol.PREVENT_EXTRA:
        return None
    names = [getattr(key, "schema", key) for key in node]
    strings = frozenset(name for name in names if isinstance(name, str))
    return strings if len(strings) == len(names) else None  # a type key: any may belong


def _run(schema: vol.Schema, fast: Check | None, value: Any) -> Any:
    """The schema's answer: through its plan when the value is valid, else voluptuous's own.

    The plan is used only where the app's fast path covers voluptuous.
    """
    if fast is not None and "voluptuous" in current_api_app().fast_path:
        try:
            return fast(value)
        except Miss:
            pass
    return schema(value)


def validate_body(
    schema: vol.Schema,
    value: Any,
    fast: Check | None = None,
    known: frozenset[str] | None = None,
) -> Any:
    """Validate a parsed JSON body, raising 400 for a non-object and 422 for schema failures.

    `fast` is the schema's plan (`myapp.core.fastpath.schema_plan`), and `known` its
    top-level keys (`known_keys`), when it has them. Unknown keys are found first, in
    one pass, and only the known ones go through the schema: a body of a hundred
    thousand stray keys costs no per-field work for them.
    """
    if not isinstance(value, dict):
        raise InvalidBody("The request body must be a JSON object.")
    if known is None or known.issuperset(value):
        try:
            return _run(schema, fast, value)
        except vol.MultipleInvalid as exc:
            raise _failed(_failures(exc), ValidationFailed, "field", _pointer_item) from None
    stray = value.keys() - known
    failures: list[tuple[list[Any], str]] = []
    try:
        _run(schema, fast, {key: value[key] for key in known if key in value})
    except vol.MultipleInvalid as exc:
        failures = _failures(exc)
    # Only the first stray keys can be among the first errors listed.
    first_stray = heapq.nsmallest(MAX_ERRORS, stray)
    failures += [([key], "is not allowed") for key in first_stray]
    total = len(failures) + len(stray) - len(first_stray)
    raise _failed(failures, ValidationFailed, "field", _pointer_item, total)


def validate_query(schema: vol.Schema, args: Any, fast: Check | None = None) -> dict[str, Any]:
    """Validate query arguments (a MultiDict), raising 400 naming each bad parameter."""
    failures: list[tuple[list[Any], str]] = [
        ([name], "given more than once") for name in args if len(args.getlist(name)) > 1
    ]
    if not failures:
        try:
            return _run(schema, fast, args.to_dict())  # type: ignore[no-any-return]
        except vol.MultipleInvalid as exc:
            failures = _failures(exc)
    raise _failed(failures, InvalidParameters, "parameter", _parameter_item)


def _check_argument(view: Callable[..., Any], arg: str) -> None:
    if arg not in inspect.signature(view).parameters:
        raise TypeError(f"{view.__qualname__}() must accept a {arg!r} argument for its schema")


def _inject(kwargs: dict[str, Any], arg: str, value: Any) -> None:
    if arg in kwargs:
        raise RuntimeError(
            f"the URL argument {arg!r} collides with the validated data; "
            f"pass arg='...' to the schema decorator to use another name"
        )
    kwargs[arg] = value


def dataschema(schema: Any, *, arg: str = "data", max_body: int | None = None) -> Callable[[F], F]:
    """Validate the JSON body against `schema` and pass the result to the view as `arg`.

    `max_body`: the most bytes a body of this route may have, when that is far below
    the app's MAX_CONTENT_LENGTH; a longer one is a 413 before any of it is read, so
    a client cannot make the route parse (and list errors for) a megabyte of junk.
    """
    compiled = compile_schema(schema)
    fast = schema_plan(compiled)
    known = known_keys(compiled)

    def decorator(view: F) -> F:
        _check_argument(view, arg)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if max_body is not None:
                _limit_body(max_body)
            _inject(kwargs, arg, validate_body(compiled, json_body(), fast, known))
            return view(*args, **kwargs)

        wrapper.body_schema = compiled  # type: ignore[attr-defined]
        wrapper.max_body = max_body  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def _limit_body(max_body: int) -> None:
    """Lower this request's body limit to `max_body` (never raise it past the app's)."""
    current = api_request()
    limit = current.max_content_length
    if limit is None or max_body < limit:
        current.max_content_length = max_body


def queryschema(schema: Any, *, arg: str = "query") -> Callable[[F], F]:
    """Validate query parameters against `schema` (builtin types coerce from text)."""
    compiled = compile_schema(schema, coerce=True)
    fast = schema_plan(compiled)

    def decorator(view: F) -> F:
        _check_argument(view, arg)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _inject(kwargs, arg, validate_query(compiled, api_request().args, fast))
            return view(*args, **kwargs)

        wrapper.query_schema = compiled  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
