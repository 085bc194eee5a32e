"""What every stack serves: the same 10,000 items, limit and validation rules.

The hand-validating stacks (plain Flask, bare WSGI) use `validate_item`; the
frameworks express the same rules in their own schema languages.
"""

from __future__ import annotations

import re
from typing import Any

ITEM_COUNT = 10_000
NAME_MAX = 64
TAGS_MAX = 10
PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 100
EMAIL_MAX = 254
#: High enough never to deny during a run: the benchmark measures the check, not a 429.
LIMIT_PER_MINUTE = 1_000_000

ITEMS: list[dict[str, Any]] = [
    {
        "id": i,
        "name": f"Item {i}",
        "email": f"owner{i}@example.com",
        "tags": ["red", "blue"],
        "active": i % 3 != 0,
    }
    for i in range(1, ITEM_COUNT + 1)
]
FIELDS = frozenset({"name", "email", "tags", "active"})

# The same pattern as myapp.core.validators.Email, so the hand-validating stacks
# accept and refuse exactly what myapp does.
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """The slice of ITEMS that a page covers."""
    start = (page - 1) * per_page
    return start, start + per_page


def page_count(per_page: int) -> int:
    """How many pages of `per_page` items ITEMS fills."""
    return -(-ITEM_COUNT // per_page)


def parse_page_args(page: str | None, per_page: str | None) -> tuple[int, int, dict[str, str]]:
    """Read page and per_page from query text: (page, per_page, errors naming each bad one)."""
    errors = {}
    values = []
    for name, text, default, high in (
        ("page", page, 1, 2**31 - 1),
        ("per_page", per_page, PER_PAGE_DEFAULT, PER_PAGE_MAX),
    ):
        if text is None:
            values.append(default)
        elif text.isascii() and text.isdigit() and 1 <= int(text) <= high:
            values.append(int(text))
        else:
            values.append(default)
            errors[name] = f"must be an integer from 1 to {high}"
    return values[0], values[1], errors


def validate_item(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a parsed JSON body by hand: (the new item's fields, errors naming each bad one)."""
    if not isinstance(body, dict):
        return {}, {"": "the body must be a JSON object"}
    errors = dict.fromkeys(body.keys() - FIELDS, "is not allowed")
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        errors["name"] = f"must be a string of 1 to {NAME_MAX} characters"
    email = body.get("email")
    if not isinstance(email, str) or len(email) > EMAIL_MAX or not EMAIL.fullmatch(email):
        errors["email"] = "must be an email address"
    tags = body.get("tags", [])
    if (
        not isinstance(tags, list)
        or len(tags) > TAGS_MAX
        or not all(isinstance(tag, str) for tag in tags)
    ):
        errors["tags"] = f"must be a list of at most {TAGS_MAX} strings"
    active = body.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = "must be true or false"
    return {"name": name, "email": email, "tags": tags, "active": active}, errors
