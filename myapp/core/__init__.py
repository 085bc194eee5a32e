"""The reusable API layer: anything built on myapp gets these, and they import no domain code."""

from myapp.core.api import ApiFlask, ApiResult
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
from myapp.core.validation import dataschema, queryschema
from myapp.core.validators import Boolean, Email, Integer, Number, String

__all__ = [
    "ApiException",
    "ApiFlask",
    "ApiResult",
    "BadRequest",
    "Boolean",
    "Conflict",
    "Email",
    "Forbidden",
    "Integer",
    "InvalidBody",
    "InvalidParameters",
    "NotFound",
    "Number",
    "PreconditionFailed",
    "ServiceUnavailable",
    "String",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "dataschema",
    "queryschema",
    "register_blueprints",
    "register_error_handlers",
]
