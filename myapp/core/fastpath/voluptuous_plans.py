"""A quicker way through a voluptuous schema when the value is valid (voluptuous 0.15-0.16).

voluptuous walks a schema generically, tracking paths and gathering errors as it
goes; for a small JSON object most of a request's validation time is that walk.
`plan(schema)` turns the common shapes (dicts with plain string keys, one-item
lists, `All`, `Any`, types, literals and validator callables) into nested plain
functions that return exactly what the schema returns for a valid value, keys in
the same order, and raise `Miss` for anything else. `explanation(schema)` then
lists the errors of a value the plan missed, the paths and messages voluptuous
would report (below); where it cannot, the schema itself runs, so a validator
runs twice only on invalid input. A schema with anything else in it (key
wildcards, `Remove`, `Exclusive`, nested `Schema` objects, tuples, sets) gets no
plan and is always run by voluptuous. Plans and explanations mirror voluptuous's
private `Schema._compile` and read `voluptuous.schema_builder`'s `Undefined` and
`primitive_types`. tests/core/test_fastvalidate.py holds both to their schemas
on generated values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import voluptuous as vol
from voluptuous.schema_builder import Undefined, primitive_types

from myapp.core.fastpath import Check, Miss


class _NoPlan(Exception):
    """Part of the schema has no plan."""


def plan(schema: vol.Schema) -> Check | None:
    """A function that validates like `schema` on valid values, or None when it has no plan."""
    try:
        return _plan(schema.schema, schema.required, schema.extra)
    except _NoPlan:
        return None


def _kind(node: Any) -> str:
    """What voluptuous's Schema._compile makes of `node`, tested in its order: "validators"
    (All, Any), "dict", "list", "type", "call" or "literal"; _NoPlan for the rest."""
    if node is vol.Extra or node is vol.Self:
        raise _NoPlan
    if hasattr(node, "__voluptuous_compile__"):
        return "validators"
    if isinstance(node, vol.Object):
        raise _NoPlan
    if isinstance(node, Mapping):
        return "dict"
    if isinstance(node, list):
        return "list"
    if isinstance(node, (tuple, set, frozenset)):
        raise _NoPlan
    if inspect.isclass(node):
        return "type"
    if callable(node):
        return "call"
    if type(node) in (*primitive_types, type(None)):
        return "literal"
    raise _NoPlan


def _dict_keys(
    node: Mapping[Any, Any],
) -> tuple[list[tuple[str, Any]], dict[str, Any], list[tuple[str, Any]]]:
    """A dict schema's plain string keys: (name, value schema) pairs, the marker of each
    (None for a bare string), and the defaults to fill in; _NoPlan for any other key."""
    items, markers = [], {}
    for key in node:
        if type(key) is str:
            name, marker = key, None
        elif type(key) in (vol.Required, vol.Optional) and type(key.schema) is str:
            name, marker = key.schema, key
        else:
            raise _NoPlan
        items.append((name, node[key]))
        markers[name] = marker
    # voluptuous fills in defaults in the order of this very set; build it the same way.
    with_defaults = {key for key in node if type(key) in (vol.Required, vol.Optional)}
    defaults = [
        (key.schema, key.default) for key in with_defaults if not isinstance(key.default, Undefined)
    ]
    return items, markers, defaults


def _is_required(marker: Any, required: bool) -> bool:
    return type(marker) is vol.Required or (marker is None and required)


def _plan(node: Any, required: bool, extra: int) -> Check:
    kind = _kind(node)
    if kind == "validators":
        return _plan_sub_validators(node, extra)
    if kind == "dict":
        return _plan_dict(node, required, extra)
    if kind == "list":
        return _plan_list(node, required, extra)
    if kind == "type":
        return _plan_type(node)
    if kind == "call":
        return _plan_call(node)
    return _plan_literal(node)


def _plan_sub_validators(node: Any, extra: int) -> Check:
    if type(node) not in (vol.All, vol.Any) or node.discriminant is not None:
        raise _NoPlan
    # voluptuous compiles what All and Any hold with their own `required`.
    steps = [_plan(validator, node.required, extra) for validator in node.validators]
    if type(node) is vol.All:

        def all_of(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value

        return all_of

    def any_of(value: Any) -> Any:
        for step in steps:
            try:
                return step(value)
            except Miss:
                continue
        raise Miss

    return any_of


def _plan_dict(node: Mapping[Any, Any], required: bool, extra: int) -> Check:
    items, markers, defaults = _dict_keys(node)
    checks = {name: _plan(schema, required, extra) for name, schema in items}
    needed = {name for name, marker in markers.items() if _is_required(marker, required)}

    def check_dict(value: Any) -> Any:
        if type(value) is not dict:
            raise Miss
        given = dict(value)
        for name, default in defaults:
            if name not in given:
                given[name] = default()
        if not needed.issubset(given):
            raise Miss
        out = {}
        for name, item in given.items():
            check = checks.get(name)
            if check is not None:
                out[name] = check(item)
            elif extra == vol.ALLOW_EXTRA:
                out[name] = item
            elif extra != vol.REMOVE_EXTRA:
                raise Miss
        return out

    return check_dict


def _plan_list(node: list[Any], required: bool, extra: int) -> Check:
    # With several item schemas voluptuous stops at the first deep failure, which a
    # plan that only knows "miss" cannot tell from a shallow one: no plan then.
    if len(node) != 1:
        raise _NoPlan
    check_item = _plan(node[0], required, extra)

    def check_list(value: Any) -> Any:
        if type(value) is not list:
            raise Miss
        out = []
        for item in value:
            checked = check_item(item)
            if checked is not vol.Remove:
                out.append(checked)
        return out

    return check_list


def _plan_type(node: type) -> Check:
    def check_type(value: Any) -> Any:
        if not isinstance(value, node):
            raise Miss
        return value

    return check_type


def _plan_call(node: Callable[[Any], Any]) -> Check:
    def check_call(value: Any) -> Any:
        try:
            return node(value)
        except (vol.Invalid, ValueError):
            raise Miss from None

    return check_call


def _plan_literal(node: Any) -> Check:
    def check_literal(value: Any) -> Any:
        if value != node:
            raise Miss
        return value

    return check_literal


#: What an explanation finds: (path, message) for each error, as voluptuous reports them.
Failures = list[tuple[list[Any], str]]
Explain = Callable[[list[Any], Any, Failures], Any]
#: An explanation's answer for a value with errors (which it has appended).
_BAD = object()


class _Unexplained(Exception):
    """An explanation met a case it does not mirror; voluptuous must tell the errors."""


def explanation(schema: vol.Schema) -> Callable[[Any], Failures | None] | None:
    """A function listing the errors voluptuous would find in a value ([] for a valid one).

    Where a plan only knows "miss", this walks the same shapes and collects what
    voluptuous's walk collects: each error's path (names, not markers) and message,
    which voluptuous builds by raising and catching an exception at every level, at
    several times the cost. The order of the list is not voluptuous's; the caller
    sorts it. None when the schema holds a shape with no explanation (`Any`, and
    all a plan refuses), and the function's answer is None for a value that meets a
    case it does not mirror: voluptuous must tell those.
    """
    try:
        explain = _explain(schema.schema, schema.required, schema.extra)
    except _NoPlan:
        return None

    def failures(value: Any) -> Failures | None:
        found: Failures = []
        try:
            explain([], value, found)
        except _Unexplained:
            return None
        return found

    return failures


def _explain(node: Any, required: bool, extra: int) -> Explain:
    kind = _kind(node)
    if kind == "validators":
        return _explain_all(node, extra)
    if kind == "dict":
        return _explain_dict(node, required, extra)
    if kind == "list":
        return _explain_list(node, required, extra)
    if kind == "type":
        return _explain_type(node)
    if kind == "call":
        return _explain_call(node)
    return _explain_literal(node)


def _explain_all(node: Any, extra: int) -> Explain:
    # All runs its validators in turn and stops at the first that fails, whose
    # errors it passes on, or its own `msg` at its own path (voluptuous's _exec).
    # Any keeps the deepest of its alternatives' errors: not mirrored.
    if type(node) is not vol.All or node.discriminant is not None:
        raise _NoPlan
    steps = [_explain(validator, node.required, extra) for validator in node.validators]
    msg = node.msg

    def all_of(path: list[Any], value: Any, found: Failures) -> Any:
        for step in steps:
            mine: Failures = []
            value = step(path, value, mine)
            if value is _BAD:
                found.extend(mine if msg is None else [(path, msg)])
                return _BAD
        return value

    return all_of


def _explain_dict(node: Mapping[Any, Any], required: bool, extra: int) -> Explain:
    # voluptuous's validate_dict and validate_mapping, for plain string keys.
    items, markers, defaults = _dict_keys(node)
    checks = {name: _explain(schema, required, extra) for name, schema in items}
    needed = {
        name: getattr(marker, "msg", None) or "required key not provided"
        for name, marker in markers.items()
        if _is_required(marker, required)
    }

    def check_dict(path: list[Any], value: Any, found: Failures) -> Any:
        if not isinstance(value, dict):
            found.append((path, "expected a dictionary"))
            return _BAD
        given = dict(value)
        for name, default in defaults:
            if name not in given:
                given[name] = default()
        out = {}
        failed = False
        missing = dict(needed)
        for name, item in given.items():
            check = checks.get(name) if type(name) is str else None
            if check is not None:
                missing.pop(name, None)  # given: an error in it is its own, not "required"
                checked = check([*path, name], item, found)
                if checked is _BAD:
                    failed = True
                else:
                    out[name] = checked
            elif extra == vol.ALLOW_EXTRA:
                out[name] = item
            elif extra != vol.REMOVE_EXTRA:
                found.append(([*path, name], "extra keys not allowed"))
                failed = True
        for name, message in missing.items():
            found.append(([*path, name], message))
            failed = True
        return _BAD if failed else out

    return check_dict


def _explain_list(node: list[Any], required: bool, extra: int) -> Explain:
    # voluptuous's validate_sequence with one item schema: each item that fails at
    # its own place is listed; the first that fails deeper ends the walk with its
    # errors alone.
    if len(node) != 1:
        raise _NoPlan
    check_item = _explain(node[0], required, extra)

    def check_list(path: list[Any], value: Any, found: Failures) -> Any:
        if not isinstance(value, list):
            found.append((path, "expected a list"))
            return _BAD
        out = []
        shallow: Failures = []
        for index, item in enumerate(value):
            here = [*path, index]
            mine: Failures = []
            checked = check_item(here, item, mine)
            if checked is _BAD:
                if len(mine[0][0]) > len(here):
                    found.extend(mine)
                    return _BAD
                if len(mine) > 1:
                    raise _Unexplained  # voluptuous lists such a group as one error
                shallow.extend(mine)
            elif checked is not vol.Remove:
                out.append(checked)
        if shallow:
            found.extend(shallow)
            return _BAD
        return out

    return check_list


def _explain_type(node: type) -> Explain:
    message = f"expected {node.__name__}"

    def check_type(path: list[Any], value: Any, found: Failures) -> Any:
        if isinstance(value, node):
            return value
        found.append((path, message))
        return _BAD

    return check_type


def _explain_call(node: Callable[[Any], Any]) -> Explain:
    # voluptuous's validate_callable: a ValueError is "not a valid value"; an Invalid
    # keeps its message, and its path goes under this one.
    def check_call(path: list[Any], value: Any, found: Failures) -> Any:
        try:
            return node(value)
        except ValueError:
            found.append((path, "not a valid value"))
        except vol.MultipleInvalid as exc:
            found.extend(([*path, *error.path], error.error_message) for error in exc.errors)
        except vol.Invalid as exc:
            found.append(([*path, *exc.path], exc.error_message))
        return _BAD

    return check_call


def _explain_literal(node: Any) -> Explain:
    def check_literal(path: list[Any], value: Any, found: Failures) -> Any:
        if value != node:
            found.append((path, "not a valid value"))
            return _BAD
        return value

    return check_literal
