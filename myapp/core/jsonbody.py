"""Strict JSON request bodies: UTF-8 only, finite numbers, bounded nesting, no lone surrogates."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from myapp.core.errors import InvalidBody, UnsupportedMediaType
from myapp.core.request import ApiRequest, api_request, current_api_app

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Python refuses to parse longer integers anyway (sys.int_info.default_max_str_digits);
# saying so ourselves keeps interpreter details out of the problem detail.
_MAX_INT_DIGITS = 4300


def _reject_constant(name: str) -> Any:
    raise ValueError("numbers must be finite")


def _int_too_long(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integers may have at most {_MAX_INT_DIGITS} digits")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With a key twice, which value counts is up to the parser; refuse to guess.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("an object has the same key twice")
    return document


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("numbers must be finite")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# Built once: json.loads with any option builds a new decoder (and its scanner) per
# call, which cost more than decoding a small body. Decoders keep no state between
# calls, so one serves every thread, as json.loads's own default decoder does.
_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant,
    parse_float=_finite_float,
    parse_int=_int_too_long,
    object_pairs_hook=_unique_keys,
)
# The same without a hook per integer, which a body of many numbers pays for each
# one: for a text with no run of digits long enough to need the check.
_PLAIN_INTS = json.JSONDecoder(
    parse_constant=_reject_constant,
    parse_float=_finite_float,
    object_pairs_hook=_unique_keys,
)
_LONG_DIGITS = re.compile(f"[0-9]{{{_MAX_INT_DIGITS + 1}}}")


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Parse a UTF-8 JSON document, raising InvalidBody for anything hostile or malformed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidBody("The request body is not valid UTF-8.") from None
    try:
        if text.startswith("\ufeff"):  # what json.loads says of a byte order mark
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        # A text shorter than the limit cannot hold a number past it: no search needed.
        long_number = len(text) > _MAX_INT_DIGITS and _LONG_DIGITS.search(text)
        decoder = _DECODER if long_number else _PLAIN_INTS
        value = decoder.decode(text)
    except RecursionError:
        raise InvalidBody(f"The JSON body is nested deeper than {max_depth} levels.") from None
    except ValueError as exc:
        # JSONDecodeError's message names the position, which helps the client.
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InvalidBody(f"The request body is not valid JSON: {reason}.") from None
    # Each level opens a bracket, so a text with few of them cannot nest deeper than that.
    if raw.count(b"[") + raw.count(b"{") > max_depth and _too_deep(value, max_depth):
        raise InvalidBody(f"The JSON body is nested deeper than {max_depth} levels.")
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(value):
        raise InvalidBody("The JSON body contains an unpaired UTF-16 surrogate.")
    return value


def is_json_mimetype(mimetype: str) -> bool:
    """Tell whether a mimetype is JSON: application/json or application/*+json."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _check_media_type(current: ApiRequest) -> None:
    mimetype = current.mimetype
    if not is_json_mimetype(mimetype):
        given = f", not {mimetype}." if mimetype else "."
        raise UnsupportedMediaType("Send the request body as application/json" + given)
    charset = current.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("JSON bodies must be encoded as UTF-8.")


def json_body() -> Any:
    """Return the current request's JSON body, or raise 415 / 413 / 400 problems."""
    current = api_request()
    if current.environ.get("CONTENT_TYPE") != "application/json":  # that one needs no parsing
        _check_media_type(current)
    raw = current.read_body()
    if not raw:
        raise InvalidBody("The request body is empty; send a JSON object.")
    return parse_json(raw, current_api_app().config["JSON_MAX_DEPTH"])
