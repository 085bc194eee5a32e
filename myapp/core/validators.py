"""Reusable strict validators for voluptuous schemas: strings, integers, numbers, booleans, email.

Each one knows its bounds as attributes, so documentation can be generated from it.
With `coerce=True` (what @queryschema uses) they also accept the value's text form.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

import voluptuous as vol

_INT_TEXT = re.compile(r"[+-]?\d{1,20}", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?(\d{1,309}(\.\d{0,64})?|\.\d{1,64})([eE][+-]?\d{1,3})?", re.ASCII)
# The local part is a dot-atom (RFC 5322): dots only between atoms, never two in a row.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*"
    r"@(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _check_bounds(value: float, low: float | None, high: float | None) -> None:
    if (low is None or value >= low) and (high is None or value <= high):
        return
    if low is not None and high is not None:
        raise vol.Invalid(f"must be between {low} and {high}")
    raise vol.Invalid(f"must be at least {low}" if low is not None else f"must be at most {high}")


class Integer:
    """An integer (never a boolean) within [min, max]; 64-bit by default."""

    def __init__(
        self, min: int | None = INT64_MIN, max: int | None = INT64_MAX, coerce: bool = False
    ):
        self.min, self.max, self.coerce = min, max, coerce

    def __call__(self, value: Any) -> int:
        if self.coerce and isinstance(value, str) and _INT_TEXT.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid("expected an integer")
        _check_bounds(value, self.min, self.max)
        return value


class Number:
    """A finite number, integer or float (never a boolean), within [min, max]."""

    def __init__(
        self,
        min: float | None = -sys.float_info.max,
        max: float | None = sys.float_info.max,
        coerce: bool = False,
    ):
        self.min, self.max, self.coerce = min, max, coerce

    def __call__(self, value: Any) -> int | float:
        if self.coerce and isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
            value = int(value) if _INT_TEXT.fullmatch(value) else float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise vol.Invalid("expected a number")
        _check_bounds(value, self.min, self.max)
        if isinstance(value, float) and not math.isfinite(value):
            raise vol.Invalid("expected a number")
        return value


class Boolean:
    """A JSON boolean; with coerce, also the words "true" and "false"."""

    def __init__(self, coerce: bool = False):
        self.coerce = coerce

    def __call__(self, value: Any) -> bool:
        if self.coerce and value in ("true", "false"):
            return bool(value == "true")
        if not isinstance(value, bool):
            raise vol.Invalid("expected a boolean (true or false)")
        return value


class String:
    """A string of min_length to max_length characters with no NUL characters."""

    def __init__(self, min_length: int = 0, max_length: int = 1000):
        self.min_length, self.max_length = min_length, max_length

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise vol.Invalid("expected a string")
        if not self.min_length <= len(value) <= self.max_length:
            raise vol.Invalid(
                f"must be {self.min_length} to {self.max_length} characters long"
                if self.min_length
                else f"must be at most {self.max_length} characters long"
            )
        if "\x00" in value:
            raise vol.Invalid("must not contain NUL characters")
        return value


class Email:
    """An email address (local@domain, at most 254 characters), trimmed, domain lowercased."""

    max_length = 254

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise vol.Invalid("expected a string")
        value = value.strip()
        if len(value) > self.max_length or not _EMAIL.fullmatch(value):
            raise vol.Invalid("not a valid email address")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


class Timestamp:
    """A UTC time as RFC 3339 text ("2026-12-05T01:02:03Z"), as the API writes its times."""

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
            raise vol.Invalid("not an RFC 3339 UTC time (2026-12-05T01:02:03Z)")
        return value
