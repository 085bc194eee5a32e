"""JSON encoding and the response class: how a document becomes bytes on the wire."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson
from flask import Response
from werkzeug.datastructures import Headers

JSON_MIMETYPE = "application/json"
#: Statuses that never carry a body.
NO_BODY = frozenset({204, 304})


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value  # as orjson writes one
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every response: json.dumps would build a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_json_default)
# Only looks for NaN and Infinity in a document orjson has written, so one that is
# neither circular nor holding unpaired surrogates: the quickest settings for that.
_NAN_CHECK = json.JSONEncoder(
    allow_nan=False, check_circular=False, ensure_ascii=False, default=_json_default
)
# Dates and subclasses of str, int, dict and list go to _json_default, which refuses
# the subclasses: json.dumps, not orjson, decides how those are written.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dump_json(document: Any) -> bytes:
    """Encode a document compactly as UTF-8 JSON, refusing NaN and Infinity.

    orjson writes a page of twenty items some twenty times faster than the
    standard library. Where it differs, the standard library's encoder decides:
    it writes what orjson refuses (integers past 64 bits, keys that are not
    strings, unpaired surrogates, nesting past 254 levels, subclasses), and it
    checks any document whose text has a null, since orjson writes NaN and
    Infinity as null where json.dumps raises ValueError. The two write the same
    values; only the spelling of floats and non-ASCII text differs.
    """
    try:
        body = orjson.dumps(document, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return _ENCODER.encode(document).encode()
    if b"null" in body:
        _NAN_CHECK.encode(document)  # raises ValueError for NaN and Infinity
    return body


class ApiResponse(Response):
    """A Flask response whose default type is JSON, built from a document by `for_document`."""

    default_mimetype = JSON_MIMETYPE

    @classmethod
    def for_document(
        cls,
        document: Any,
        status: int,
        headers: Headers | None = None,
        mimetype: str = JSON_MIMETYPE,
    ) -> ApiResponse:
        """Encode `document` as the body; `headers` become the response's own.

        204 and 304 have no body. The body's type and length replace any the
        caller put in `headers`.
        """
        if status in NO_BODY:
            response = cls(status=status, headers=headers)
            del response.headers["Content-Type"]
            return response
        return cls(dump_json(document), status, headers, mimetype=mimetype)

    def add_fields(self, fields: Iterable[tuple[str, str]]) -> None:
        """Add header fields built in code (names and values known to be safe)."""
        self.headers.extend(fields)
