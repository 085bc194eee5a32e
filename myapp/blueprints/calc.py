"""A small calculator: the seed example exercising query and body validation."""

from __future__ import annotations

import math
import sys

from flask import Blueprint

from myapp.core import ApiException, ApiResult, Number, dataschema, queryschema
from myapp.core.openapi import documents

bp = Blueprint("calc", __name__, url_prefix="/v1/calc")

# Addends are kept to half the float range, so no sum can overflow; a quotient
# still can (1e308 / 1e-308), which is a 422 like division by zero.
ADDENDS = {"a": Number(-sys.float_info.max / 2, sys.float_info.max / 2)}
ADDENDS["b"] = ADDENDS["a"]
OPERANDS = {"a": Number(), "b": Number()}


class DivisionByZero(ApiException):
    """The divisor was zero."""

    status = 422
    title = "Division by zero"
    type = "division-by-zero"
    detail = "The divisor b must not be zero."


class ResultOutOfRange(ApiException):
    """The result does not fit in a finite number."""

    status = 422
    title = "Result out of range"
    type = "result-out-of-range"
    detail = "The result is too large to represent."


def _finite(value: float) -> float:
    # Integers stay exact, but past the float range no JSON client can read them.
    if abs(value) > sys.float_info.max or not math.isfinite(value):
        raise ResultOutOfRange()
    return value


def divide(a: float, b: float) -> float:
    """Return a / b as a float, raising DivisionByZero for b == 0."""
    if b == 0:
        raise DivisionByZero()
    try:
        return _finite(a / b)
    except OverflowError:
        raise ResultOutOfRange() from None


def add(a: float, b: float) -> float:
    """Return a + b, keeping integers integral."""
    return _finite(a + b)


@bp.get("/divide")
@documents({"result": float}, errors=(422,))
@queryschema(OPERANDS)
def divide_numbers(query: dict[str, float]) -> ApiResult:
    """Divide a by b."""
    return ApiResult({"result": divide(query["a"], query["b"])})


@bp.get("/add")
@documents({"sum": float}, errors=(422,))
@queryschema(ADDENDS)
def add_query(query: dict[str, float]) -> ApiResult:
    """Add a and b given as query parameters."""
    return ApiResult({"sum": add(query["a"], query["b"])})


@bp.post("/add")
@documents({"sum": float})
@dataschema(ADDENDS, max_body=4096)  # two numbers: a valid body is under 1 KiB
def add_body(data: dict[str, float]) -> ApiResult:
    """Add a and b given in a JSON body."""
    return ApiResult({"sum": add(data["a"], data["b"])})
