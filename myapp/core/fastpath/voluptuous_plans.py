"""A quicker way through a voluptuous schema when the value is valid (voluptuous 0.15-0.16).

voluptuous walks a schema generically, tracking paths and gathering errors as it
goes; for a small JSON object most of a request's validation time is that walk.
`plan(schema)` turns the common shapes (dicts with plain string keys, one-item
lists, `All`, `Any`, types, literals and validator callables) into nested plain
functions that return exactly what the schema returns for a valid value, keys in
the same order, and raise `Miss` for anything else. The caller then runs the
schema itself, so every error, message and path still comes from voluptuous; a
validator runs twice only on invalid input. A schema with anything else in it
(key wildcards, `Remove`, `Exclusive`, nested `Schema` objects, tuples, sets)
gets no plan and is always run by voluptuous. Plans mirror voluptuous's private
`Schema._compile` and read `voluptuous.schema_builder`'s `Undefined` and
`primitive_types`. tests/core/test_fastvalidate.py holds plans to their schemas
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


def _plan(node: Any, required: bool, extra: int) -> Check:
    # The same order of tests as voluptuous's Schema._compile.
    if node is vol.Extra or node is vol.Self:
        raise _NoPlan
    if hasattr(node, "__voluptuous_compile__"):
        return _plan_sub_validators(node, extra)
    if isinstance(node, vol.Object):
        raise _NoPlan
    if isinstance(node, Mapping):
        return _plan_dict(node, required, extra)
    if isinstance(node, list):
        return _plan_list(node, required, extra)
    if isinstance(node, (tuple, set, frozenset)):
        raise _NoPlan
    if inspect.isclass(node):
        return _plan_type(node)
    if callable(node):
        return _plan_call(node)
    if type(node) in (*primitive_types, type(None)):
        return _plan_literal(node)
    raise _NoPlan


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
    checks: dict[str, Check] = {}
    needed = set()
    for key in node:
        if type(key) is str:
            name, marker = key, None
        elif type(key) in (vol.Required, vol.Optional) and type(key.schema) is str:
            name, marker = key.schema, key
        else:
            raise _NoPlan
        checks[name] = _plan(node[key], required, extra)
        if type(marker) is vol.Required or (marker is None and required):
            needed.add(name)
    # voluptuous fills in defaults in the order of this very set; build it the same way.
    with_defaults = {key for key in node if type(key) in (vol.Required, vol.Optional)}
    defaults = [
        (key.schema, key.default) for key in with_defaults if not isinstance(key.default, Undefined)
    ]

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
