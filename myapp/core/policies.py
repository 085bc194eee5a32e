"""Rate-limit policies: "N/unit" specs parsed into Limits, and a request's verdict."""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from myapp.core.limiter_backends import Limit

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*", re.I)


def parse_limits(spec: str, name: str) -> tuple[Limit, ...]:
    """Parse "5/minute;100/hour" into Limits named after the policy (and unit when several)."""
    parts = [part for part in spec.split(";") if part.strip()]
    limits = []
    for part in parts:
        match = _LIMIT.fullmatch(part)
        if not match or int(match[1]) < 1 or (match[2] and int(match[2]) < 1):
            raise ValueError(f"bad rate limit {part!r}: write it as '300/minute' or '10/5seconds'")
        window = int(match[2] or 1) * _UNITS[match[3].lower()]
        if int(match[1]) > window * 1_000_000:
            raise ValueError(f"bad rate limit {part!r}: at most one request per microsecond")
        limit_name = name if len(parts) == 1 else f"{name}-{window}s"
        limits.append(Limit(int(match[1]), window, limit_name))
    if not limits:
        raise ValueError("a rate limit needs at least one 'N/unit' part")
    return tuple(limits)


_CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


def names_setting(spec: str) -> bool:
    """Whether a spec names a config key ("RATELIMIT_AUTH") rather than giving limits."""
    return _CONFIG_KEY.fullmatch(spec) is not None


# Compared by identity: each decorator makes one, and the limiter looks its limits
# up by policy on every request, where hashing four fields would cost a microsecond.
@dataclass(frozen=True, eq=False)
class Policy:
    """A route's limits (a spec, or the config key holding one) and how it is keyed.

    Sensitive routes fail closed when the store is down; `by_address` routes
    count per client address even for authenticated callers (sign-in attempts).
    """

    name: str
    spec: str
    sensitive: bool = False
    by_address: bool = False

    def limits(self, config: Any) -> tuple[Limit, ...]:
        """Parse the spec, reading it from the config when it names a setting."""
        spec = config[self.spec] if names_setting(self.spec) else self.spec
        return parse_limits(spec, self.name)


@functools.cache
def policy_header(limits: tuple[Limit, ...]) -> str:
    """The RateLimit-Policy value: the same for every request under these limits."""
    return ", ".join(f'"{limit.name}";q={limit.quota};w={limit.window}' for limit in limits)


class RateLimitState(NamedTuple):
    """The verdict for one request: admitted or not, and what the headers say."""

    limits: tuple[Limit, ...]
    allowed: bool
    #: Per limit, microseconds from now until its bucket is full again.
    until_full_us: tuple[int, ...]

    def remaining(self, limit: Limit, until_full: int) -> int:
        """How many more requests this limit admits right now."""
        return max(0, (limit.window_us - until_full) // limit.interval_us)

    @property
    def binding(self) -> tuple[Limit, int, int]:
        """The limit closest to exhaustion: (limit, remaining, seconds until reset)."""
        if len(self.limits) == 1:  # the usual case, without the lists
            limit, until = self.limits[0], self.until_full_us[0]
            return limit, self.remaining(limit, until), -(-until // 1_000_000)
        rows = [
            (limit, self.remaining(limit, until), math.ceil(until / 1_000_000))
            for limit, until in zip(self.limits, self.until_full_us, strict=True)
        ]
        return min(rows, key=lambda row: (row[1], -row[2]))

    @property
    def retry_after(self) -> int:
        """Whole seconds (at least 1) until a denied request would be admitted."""
        waits = [
            until + limit.interval_us - limit.window_us
            for limit, until in zip(self.limits, self.until_full_us, strict=True)
        ]
        return max(1, math.ceil(max(waits) / 1_000_000))

    def headers(self) -> list[tuple[str, str]]:
        """The IETF draft RateLimit fields and the older X-RateLimit-* trio."""
        limit, remaining, reset = self.binding
        left = str(remaining)
        return [
            ("RateLimit-Policy", policy_header(self.limits)),
            ("RateLimit", f"{limit.field_name};r={left};t={reset}"),
            ("X-RateLimit-Limit", limit.quota_text),
            ("X-RateLimit-Remaining", left),
            ("X-RateLimit-Reset", str(math.ceil(time.time()) + reset)),
        ]
