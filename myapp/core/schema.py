"""voluptuous schemas as JSON Schema (2020-12, as OpenAPI 3.1 uses it).

Our own validators know their bounds; voluptuous's structures (dicts, lists,
Required/Optional, All/Any, literals) map directly; any other validator with a
`json_schema()` method describes itself. One we cannot express becomes a
described value rather than an error.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from myapp.core.validators import Boolean, Email, Integer, Number, String, Timestamp

_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _bounded(schema: dict[str, Any], low: Any, high: Any, names: tuple[str, str]) -> dict[str, Any]:
    if low is not None:
        schema[names[0]] = low
    if high is not None:
        schema[names[1]] = high
    return schema


def _validator(node: Any) -> dict[str, Any] | None:
    if isinstance(node, Email):
        return {"type": "string", "format": "email", "maxLength": node.max_length}
    if isinstance(node, String):
        schema = {"type": "string", "minLength": node.min_length, "maxLength": node.max_length}
        schema["pattern"] = "^[^\\u0000]*$"
        return schema
    if isinstance(node, Integer):
        return _bounded({"type": "integer"}, node.min, node.max, ("minimum", "maximum"))
    if isinstance(node, Number):
        return _bounded({"type": "number"}, node.min, node.max, ("minimum", "maximum"))
    if isinstance(node, Boolean):
        return {"type": "boolean"}
    if isinstance(node, Timestamp):
        return {"type": "string", "format": "date-time"}
    return None


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """All of these schemas as one, when no two give a keyword different values.

    `All(Email(), rule)` is one string with a format and a pattern; as an `allOf` of
    two, client generators made an empty object of it (issue 20). Where two parts
    disagree (two patterns, say) the `allOf` stays.
    """
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key in merged and merged[key] != value:
                return {"allOf": parts}
            merged[key] = value
    return merged


def _object(node: dict[Any, Any], required_default: bool, extra: int) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    others: dict[str, Any] | None = None
    for key, value in node.items():
        name = getattr(key, "schema", key)
        if not isinstance(name, str):
            # A type or validator as the key ({str: str}): it describes every other key.
            others = to_json_schema(value, required_default, extra)
            continue
        prop = to_json_schema(value, required_default, extra)
        default = getattr(key, "default", vol.UNDEFINED)
        if default is not vol.UNDEFINED:
            prop["default"] = default() if callable(default) else default
        properties[name] = prop
        is_required = isinstance(key, vol.Required) or (
            required_default and not isinstance(key, vol.Optional)
        )
        if is_required:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = sorted(required)
    if others is not None:
        schema["additionalProperties"] = others
    elif extra == vol.PREVENT_EXTRA:
        schema["additionalProperties"] = False
    return schema


def to_json_schema(node: Any, required_default: bool = True, extra: int = 0) -> dict[str, Any]:
    """Convert a voluptuous schema (or a part of one) to JSON Schema."""
    if isinstance(node, vol.Schema):
        return to_json_schema(node.schema, node.required, node.extra)
    if isinstance(node, dict):
        return _object(node, required_default, extra)
    if isinstance(node, list):
        items = [to_json_schema(item, required_default, extra) for item in node]
        if not items:
            return {"type": "array"}
        return {"type": "array", "items": items[0] if len(items) == 1 else {"anyOf": items}}
    if isinstance(node, vol.Any):
        return {"anyOf": [to_json_schema(v, required_default, extra) for v in node.validators]}
    if isinstance(node, vol.All):
        return _merged([to_json_schema(v, required_default, extra) for v in node.validators])
    if node in _TYPES:
        return {"type": _TYPES[node]}
    if node is None:
        return {"type": "null"}
    if isinstance(node, (str, int, float, bool)):
        return {"const": node}
    known = _validator(node)
    if known is not None:
        return known
    if hasattr(node, "json_schema"):  # a validator that can describe itself
        return dict(node.json_schema())
    name = getattr(node, "__name__", type(node).__name__)
    return {"description": f"checked by {name}"}
