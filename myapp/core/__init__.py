"""The reusable API layer: anything built on myapp gets these, and they import no domain code.

A request's path through it, one module a step: request.py (ApiRequest, the body),
routing.py (the URL map), ratelimit.py (the limit), validation.py (@dataschema,
@queryschema), result.py (ApiResult), app.py (ApiFlask.make_response),
response.py (JSON on the wire), errors.py (every failure as a problem).
fastpath/ holds the one guarded layer that mirrors the libraries' internals.
"""

from myapp.core.app import ApiFlask, NotReady, trust_proxy_hops
from myapp.core.discovery import register_blueprints
from myapp.core.errors import (
    ApiException,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidBody,
    InvalidParameters,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    register_error_handlers,
)
from myapp.core.fastpath import register_fast_path
from myapp.core.openapi import documents, named
from myapp.core.request import ApiRequest, api_request, current_request_id
from myapp.core.response import ApiResponse, dump_json
from myapp.core.result import ApiResult, ListResult
from myapp.core.validation import dataschema, queryschema
from myapp.core.validators import Boolean, Email, Integer, Number, String, Timestamp

__all__ = [
    "ApiException",
    "ApiFlask",
    "ApiRequest",
    "ApiResponse",
    "ApiResult",
    "BadRequest",
    "Boolean",
    "Conflict",
    "Email",
    "Forbidden",
    "Integer",
    "InvalidBody",
    "InvalidParameters",
    "ListResult",
    "NotFound",
    "NotReady",
    "Number",
    "PreconditionFailed",
    "ServiceUnavailable",
    "String",
    "Timestamp",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "api_request",
    "current_request_id",
    "dataschema",
    "documents",
    "dump_json",
    "named",
    "queryschema",
    "register_blueprints",
    "register_error_handlers",
    "register_fast_path",
    "trust_proxy_hops",
]
