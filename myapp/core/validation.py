"""@dataschema and @queryschema: voluptuous schemas whose failures become problem details."""

from __future__ import annotations

import copy
import functools
import heapq
import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

import voluptuous as vol

from myapp.core.errors import InvalidBody, InvalidParameters, ValidationFailed
from myapp.core.fastpath import Check, Miss, schema_explanation, schema_plan
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


Failures = list[tuple[list[Any], str]]
Explanation = Callable[[Any], Failures | None]


def _shape(found: Iterable[tuple[list[Any], str]]) -> Failures:
    """Errors as the problem lists them: one per path (its first), our wording, in order."""
    seen: dict[tuple[Any, ...], str] = {}
    for raw_path, raw_message in found:
        path = tuple(getattr(part, "schema", part) for part in raw_path)  # a Required marker
        message = raw_message or "is invalid"
        seen.setdefault(path, _MESSAGES.get(message, message))
    return [(list(path), seen[path]) for path in sorted(seen, key=_sort_key)]


def _failures(error: vol.MultipleInvalid) -> Failures:
    return _shape((item.path, item.error_message) for item in error.errors)


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
    *,
    presorted: bool = False,
) -> ValidationFailed | InvalidParameters:
    """The problem for these failures: the first MAX_ERRORS in order, and how many in all.

    However many fields a hostile body gets wrong, the problem stays small: at most
    MAX_ERRORS items of at most MAX_NAME characters each. `total` counts failures
    left out of the list passed (the stray keys past the first); `presorted`, that
    the failures are in order already (as `_shape` leaves them).
    """
    total = len(failures) if total is None else total
    if presorted:
        first = failures[:MAX_ERRORS]
    else:
        first = heapq.nsmallest(MAX_ERRORS, failures, key=lambda item: _sort_key(tuple(item[0])))
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


def _check(
    schema: vol.Schema, fast: Check | None, explain: Explanation | None, value: Any
) -> tuple[Any, Failures | None]:
    """The schema's answer and None, or None and the errors it finds in `value`.

    A valid value goes through the schema's plan, and an invalid one through its
    explanation (myapp.core.fastpath: the same answers, at a fraction of the cost),
    where the app's fast path covers voluptuous; voluptuous answers the rest.
    """
    if "voluptuous" in current_api_app().fast_path:
        if fast is not None:
            try:
                return fast(value), None
            except Miss:
                pass
        found = explain(value) if explain is not None else None
        if found:
            return None, _shape(found)
    try:
        return schema(value), None
    except vol.MultipleInvalid as exc:
        return None, _failures(exc)


def validate_body(
    schema: vol.Schema,
    value: Any,
    fast: Check | None = None,
    known: frozenset[str] | None = None,
    explain: Explanation | None = None,
) -> Any:
    """Validate a parsed JSON body, raising 400 for a non-object and 422 for schema failures.

    `fast` is the schema's plan (`myapp.core.fastpath.schema_plan`), `explain` its
    explanation (`schema_explanation`), and `known` its top-level keys (`known_keys`),
    when it has them. Unknown keys are found first, in
    one pass, and only the known ones go through the schema: a body of a hundred
    thousand stray keys costs no per-field work for them.
    """
    if not isinstance(value, dict):
        raise InvalidBody("The request body must be a JSON object.")
    if known is None or known.issuperset(value):
        answer, failures = _check(schema, fast, explain, value)
        if failures is None:
            return answer
        raise _failed(failures, ValidationFailed, "field", _pointer_item, presorted=True)
    stray = value.keys() - known
    _, failures = _check(schema, fast, explain, {key: value[key] for key in known if key in value})
    failures = failures or []
    # Only the first stray keys can be among the first errors listed.
    first_stray = heapq.nsmallest(MAX_ERRORS, stray)
    failures += [([key], "is not allowed") for key in first_stray]
    total = len(failures) + len(stray) - len(first_stray)
    raise _failed(failures, ValidationFailed, "field", _pointer_item, total)


def validate_query(
    schema: vol.Schema,
    args: Any,
    fast: Check | None = None,
    explain: Explanation | None = None,
) -> dict[str, Any]:
    """Validate query arguments (a MultiDict), raising 400 naming each bad parameter."""
    failures: list[tuple[list[Any], str]] = [
        ([name], "given more than once") for name in args if len(args.getlist(name)) > 1
    ]
    if not failures:
        answer, found = _check(schema, fast, explain, args.to_dict())
        if found is None:
            return answer  # type: ignore[no-any-return]
        failures = found
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
    fast, explain = schema_plan(compiled), schema_explanation(compiled)
    known = known_keys(compiled)

    def decorator(view: F) -> F:
        _check_argument(view, arg)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if max_body is not None:
                _limit_body(max_body)
            _inject(kwargs, arg, validate_body(compiled, json_body(), fast, known, explain))
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
    fast, explain = schema_plan(compiled), schema_explanation(compiled)

    def decorator(view: F) -> F:
        _check_argument(view, arg)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _inject(kwargs, arg, validate_query(compiled, api_request().args, fast, explain))
            return view(*args, **kwargs)

        wrapper.query_schema = compiled  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
