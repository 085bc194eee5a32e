"""Rate limiting: a default limit on every route, tighter ones per route, headers everywhere.

A view is wrapped once when its route is added, so the check runs before body
validation and the ApiResult carries the verdict (`result.ratelimit`). The key is
the authenticated identity when the identity loader finds one, else the client
address (X-Forwarded-For counts only through the configured proxy hops).
"""

from __future__ import annotations

import functools
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import redis
from flask import Flask

from myapp.core.api import ApiFlask, ApiResult, api_request, current_app_context
from myapp.core.errors import ApiException, ServiceUnavailable
from myapp.core.limiter_backends import Backend, Limit, MemoryBackend, RedisBackend

F = TypeVar("F", bound=Callable[..., Any])
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*", re.I)
EXTENSION = "ratelimit"


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
        spec = config[self.spec] if _CONFIG_KEY.fullmatch(self.spec) else self.spec
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


class RateLimited(ApiException):
    """Too many requests for this key under this policy."""

    status = 429
    title = "Too many requests"
    type = "rate-limited"


class Limiter:
    """Checks requests against a backend and applies the failure policy when it is down."""

    def __init__(self, app: Flask, backend: Backend) -> None:
        config = app.config
        self.backend = backend
        self.config = config
        self.default = Policy("default", "RATELIMIT_DEFAULT")
        # Per policy: its limits, and the start of its keys.
        self._policies: dict[Policy, tuple[tuple[Limit, ...], str]] = {}
        self.fail_open = config["RATELIMIT_FAIL_OPEN"]
        self.sensitive_fail_open = config["RATELIMIT_SENSITIVE_FAIL_OPEN"]
        self.retry_interval = config["RATELIMIT_STORE_RETRY_INTERVAL"]
        self.prefix = config["RATELIMIT_KEY_PREFIX"]
        self.logger = app.logger
        #: Returns the authenticated identity ("user:42") or None; the auth layer sets it.
        self.identity_loader: Callable[[], str | None] = lambda: None
        self._down_until = 0.0
        self._outage = False

    def limits(self, policy: Policy) -> tuple[Limit, ...]:
        """The policy's parsed limits under this app's config (a bad spec raises)."""
        return self._policy(policy)[0]

    def _policy(self, policy: Policy) -> tuple[tuple[Limit, ...], str]:
        entry = self._policies.get(policy)
        if entry is None:
            limits = policy.limits(self.config)
            entry = self._policies[policy] = (limits, f"{self.prefix}:{policy.name}:")
        return entry

    def check(self, policy: Policy) -> RateLimitState | None:
        """Count this request; None means the store is down and the policy fails open.

        The bucket is the authenticated identity, else the client address.
        """
        if time.monotonic() >= self._down_until:
            limits, prefix = self._policy(policy)
            identity = None if policy.by_address else self.identity_loader()
            key = prefix + (identity or f"ip:{api_request().remote_addr}")
            try:
                allowed, until_full = self.backend.hit(key, limits)
            except redis.RedisError as exc:
                self._store_down(exc)
            else:
                if self._outage:
                    self._outage = False
                    self.logger.warning("rate-limit store is reachable again")
                return RateLimitState(limits, allowed, tuple(until_full))
        if self.sensitive_fail_open if policy.sensitive else self.fail_open:
            return None
        raise ServiceUnavailable(
            "The rate limiter is unavailable, so this route is closed for now.",
            retry_after=max(1, math.ceil(self.retry_interval)),
        )

    def _store_down(self, exc: Exception) -> None:
        # Skip the store for a moment so an outage costs one timeout, not one per request.
        # Workers see an outage at the same instant; a little jitter (never past the
        # interval) keeps their retries from all stalling on a frozen store at once.
        pause = self.retry_interval * random.uniform(0.75, 1.0)
        self._down_until = time.monotonic() + pause
        if not self._outage:
            self._outage = True
            self.logger.warning(
                "rate-limit store is unreachable (%s); applying failure policy", exc
            )


def current_limiter() -> Limiter | None:
    """The current app's limiter, None when it has none (rate limiting disabled)."""
    limiter: Limiter | None = current_app_context().app.extensions.get(EXTENSION)
    return limiter


def _limited(view: F, policy: Policy) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limiter = current_limiter()
        if limiter is None:
            return view(*args, **kwargs)
        state = limiter.check(policy)
        if state is not None:
            # On the request, so a 429 or an error the view raises carries them too.
            api_request().response_fields += state.headers()
            if not state.allowed:
                limit = state.binding[0]
                raise RateLimited(
                    f"Rate limit {limit.quota} per {limit.window} seconds exceeded; "
                    f"retry in {state.retry_after} seconds.",
                    headers={"Retry-After": str(state.retry_after)},
                )
        result = view(*args, **kwargs)
        if isinstance(result, ApiResult):
            result.ratelimit = state
        return result

    wrapper.ratelimit_policy = policy  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def ratelimit(
    spec: str, *, name: str = "route", sensitive: bool = False, by_address: bool = False
) -> Callable[[F], F]:
    """Give a route its own limit: "5/minute;100/hour", or a config key holding one.

    Sensitive routes fail closed when the store is down; `by_address` keys the
    limit on the client address even when the caller is authenticated.
    """
    policy = Policy(name, spec, sensitive, by_address)
    if not _CONFIG_KEY.fullmatch(spec):
        parse_limits(spec, name)  # a typo fails at import, not at the first request
    return lambda view: _limited(view, policy)


def exempt(view: F) -> F:
    """Leave a route unlimited (liveness probes)."""
    view.ratelimit_policy = None  # type: ignore[attr-defined]
    return view


def apply_default_limit(limiter: Limiter, view: F) -> F:
    """Wrap a view with the default limit unless it chose its own or is exempt.

    Runs as each route is added, so a policy naming a missing or malformed
    setting stops start-up instead of failing its first request.
    """
    policy = getattr(view, "ratelimit_policy", limiter.default)
    if policy is not None:
        limiter.limits(policy)
    if hasattr(view, "ratelimit_policy"):
        return view
    return _limited(view, limiter.default)


def make_backend(app: Flask) -> Backend:
    """Redis when REDIS_URL is set, else memory."""
    url = app.config["REDIS_URL"]
    if not url:
        return MemoryBackend()
    return RedisBackend(
        url,
        connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"],
        socket_timeout=app.config["REDIS_SOCKET_TIMEOUT"],
    )


def register_ratelimit(app: ApiFlask) -> None:
    """Install the limiter, the default limit for routes added from now on, and the headers."""
    if not app.config["RATELIMIT_ENABLED"]:
        return
    backend = make_backend(app)
    if isinstance(backend, RedisBackend):
        app.readiness_checks["redis"] = backend.client.ping
    limiter = app.extensions[EXTENSION] = Limiter(app, backend)
    app.view_decorators.append(functools.partial(apply_default_limit, limiter))
