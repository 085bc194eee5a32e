"""The URL map: the `id` converter, and a map that empties its adapters' cache as it grows."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, Map, Rule


class IdConverter(BaseConverter):
    """`<id:name>`: a positive 64-bit integer; anything else is a 404 like a missing row.

    19-digit values past 2**63-1 become 0, an id no row has: rejecting them here
    instead would make Werkzeug answer 405 for the route's other methods.
    """

    regex = r"[1-9][0-9]{0,18}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= 2**63 - 1 else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


class ApiMap(Map):
    """Werkzeug's URL map, with room for a cache of static matches.

    The cache is filled by the fast path's adapter (myapp.core.fastpath) and
    emptied whenever a rule is added: nothing promises a new rule leaves old answers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: (normalized path, method) -> the rule Werkzeug matched.
        self.static_matches: dict[tuple[str, str], Rule] = {}
        super().__init__(*args, **kwargs)

    def add(self, rulefactory: Any) -> None:
        """Werkzeug's, then an empty cache."""
        super().add(rulefactory)
        self.static_matches = {}
