"""Conditional requests: strong ETags, If-None-Match (304) and If-Match (412).

Responses keep the default `Cache-Control: no-store` (bearer-protected data should
not sit in caches); clients that keep a copy revalidate it with If-None-Match.
"""

from __future__ import annotations

import hashlib
from typing import Any

from myapp.core.errors import PreconditionFailed
from myapp.core.request import api_request
from myapp.core.response import dump_json
from myapp.core.result import ApiResult


def etag_of(value: Any) -> str:
    """A strong ETag (unquoted) for a representation: a hash of its JSON bytes."""
    return hashlib.sha256(dump_json(value)).hexdigest()[:32]


def add_etag(result: ApiResult) -> ApiResult:
    """Give a result its representation's strong ETag (for after a write, too)."""
    result.headers["ETag"] = f'"{etag_of(result.value)}"'
    return result


def with_etag(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> ApiResult:
    """A result carrying its representation's strong ETag."""
    return add_etag(ApiResult(value, status, headers))


def conditional(value: Any) -> ApiResult:
    """A 200 with an ETag, or a bodiless 304 when If-None-Match already has it."""
    result = with_etag(value)
    if api_request().if_none_match.contains_weak(result.headers["ETag"].strip('"')):
        result.value, result.status = None, 304
    return result


def require_match(current: Any) -> None:
    """Raise 412 when If-Match is given and does not match the current representation."""
    if_match = api_request().if_match
    if if_match and not if_match.contains(etag_of(current)):
        raise PreconditionFailed()
