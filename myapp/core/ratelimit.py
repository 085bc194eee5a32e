"""Rate limiting: a default limit on every route, tighter ones per route, headers everywhere.

One step of the request's path, right after routing: a before-request hook counts
the request against its route's policy (`@ratelimit` names one, `@exempt` none,
and every other route, and every path no route matches, has the default), before
authentication, validation and the view. The verdict's headers go to the
request's `response_headers`, so whatever response it gets carries them, a 429
or any other error included. The key is the authenticated identity
when the identity loader finds one, else the client address (X-Forwarded-For
counts only through the configured proxy hops).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from flask import Flask

from myapp.core.app import ApiFlask
from myapp.core.errors import ApiException, ServiceUnavailable
from myapp.core.fastpath import redis_backend_class
from myapp.core.limiter_backends import Backend, Limit, MemoryBackend, RedisBackend
from myapp.core.policies import Policy, RateLimitState, names_setting, parse_limits
from myapp.core.request import ApiRequest, api_request, current_api_app

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "ratelimit"


class RateLimited(ApiException):
    """Too many requests for this key under this policy."""

    status = 429
    title = "Too many requests"
    type = "rate-limited"


class Limiter:
    """Checks requests against a backend and applies the failure policy when it is down."""

    def __init__(self, app: Flask, backend: Backend) -> None:
        config = app.config
        self.view_functions = app.view_functions
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
        self.identity_loader: Callable[[ApiRequest], str | None] = lambda _request: None
        #: Told each check's policy name and outcome: allowed, denied, fail_open (the
        #: store is down, the route served) or closed (down, the route refused).
        self.on_decision: Callable[[str, str], None] | None = None
        #: Told each error of the store.
        self.on_store_error: Callable[[], None] | None = None
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

    def policy_for(self, endpoint: str | None) -> Policy | None:
        """The policy of the route an endpoint names: its own, none (exempt), or the default.

        A path no route matches has no endpoint, and counts against the default.
        """
        view = self.view_functions.get(endpoint) if endpoint is not None else None
        policy: Policy | None = getattr(view, "ratelimit_policy", self.default)
        return policy

    def check(self, policy: Policy, current: ApiRequest) -> RateLimitState | None:
        """Count this request; None means the store is down and the policy fails open.

        The bucket is the authenticated identity, else the client address.
        """
        identity = None if policy.by_address else self.identity_loader(current)
        return self.hit(policy, identity or "ip:" + str(current.remote_addr))

    def hit(self, policy: Policy, key: str) -> RateLimitState | None:
        """Count one request under `policy` for `key`; None: the store is down, failing open."""
        if time.monotonic() >= self._down_until:
            limits, prefix = self._policy(policy)
            key = prefix + key
            try:
                allowed, until_full = self.backend.hit(key, limits)
            except redis.RedisError as exc:
                self._store_down(exc)
            else:
                if self._outage:
                    self._outage = False
                    self.logger.warning(
                        "the rate limiter's store, %s, is reachable again", self.backend.where
                    )
                if self.on_decision is not None:
                    self.on_decision(policy.name, "allowed" if allowed else "denied")
                return RateLimitState(limits, allowed, tuple(until_full))
        served = self.sensitive_fail_open if policy.sensitive else self.fail_open
        if self.on_decision is not None:
            self.on_decision(policy.name, "fail_open" if served else "closed")
        if served:
            return None
        raise ServiceUnavailable(
            "The rate limiter is unavailable, so this route is closed for now.",
            retry_after=max(1, math.ceil(self.retry_interval)),
        )

    def limit_attempt(self, policy: Policy, key: str) -> None:
        """Count an attempt under `policy` for `key`, whoever sends it; 429 over the limit.

        For limits on something other than the caller: a sign-in's account, say.
        """
        state = self.hit(policy, key)
        if state is not None and not state.allowed:
            raise RateLimited(
                "Too many attempts; retry later.",
                headers={"Retry-After": str(state.retry_after)},
            )

    def limit_request(self) -> None:
        """Count this request against its route's policy; raise 429 over the limit.

        The app's before-request hook, so it runs after routing and before the view
        and its decorators (authentication, validation).
        """
        current = api_request()
        # A CORS preflight counts against the default, never its route's own policy:
        # a browser's OPTIONS before a sign-in must not use up a sign-in attempt.
        preflight = current.method == "OPTIONS"
        policy = self.policy_for(None if preflight else current.endpoint)
        if policy is None:
            return
        state = self.check(policy, current)
        if state is None:
            return
        current.response_headers += state.headers()
        if not state.allowed:
            limit = state.binding[0]
            raise RateLimited(
                f"Rate limit {limit.quota} per {limit.window} seconds exceeded; "
                f"retry in {state.retry_after} seconds.",
                headers={"Retry-After": str(state.retry_after)},
            )

    def _store_down(self, exc: Exception) -> None:
        if self.on_store_error is not None:
            self.on_store_error()
        # Skip the store for a moment so an outage costs one timeout, not one per request.
        # Workers see an outage at the same instant; a little jitter (never past the
        # interval) keeps their retries from all stalling on a frozen store at once.
        pause = self.retry_interval * random.uniform(0.75, 1.0)
        self._down_until = time.monotonic() + pause
        if not self._outage:
            self._outage = True
            self.logger.warning(
                "the rate limiter's store, %s, is unreachable (%s); until it is back, "
                "ordinary routes %s and sensitive routes %s",
                self.backend.where,
                exc,
                "are served unlimited" if self.fail_open else "answer 503",
                "are served unlimited" if self.sensitive_fail_open else "answer 503",
            )


def current_limiter() -> Limiter | None:
    """The current app's limiter, None when it has none (rate limiting disabled)."""
    limiter: Limiter | None = current_api_app().extensions.get(EXTENSION)
    return limiter


def ratelimit(
    spec: str, *, name: str = "route", sensitive: bool = False, by_address: bool = False
) -> Callable[[F], F]:
    """Give a route its own limit: "5/minute;100/hour", or a config key holding one.

    Sensitive routes fail closed when the store is down; `by_address` keys the
    limit on the client address even when the caller is authenticated. The view
    is marked, not wrapped: the limiter's hook reads the mark.
    """
    policy = Policy(name, spec, sensitive, by_address)
    if not names_setting(spec):
        parse_limits(spec, name)  # a typo fails at import, not at the first request

    def mark(view: F) -> F:
        view.ratelimit_policy = policy  # type: ignore[attr-defined]
        return view

    return mark


def exempt(view: F) -> F:
    """Leave a route unlimited (liveness probes)."""
    view.ratelimit_policy = None  # type: ignore[attr-defined]
    return view


def make_backend(app: ApiFlask) -> Backend:
    """Redis when REDIS_URL is set, else memory."""
    url = app.config["REDIS_URL"]
    if not url:
        return MemoryBackend()
    return redis_backend_class(app)(
        url,
        connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"],
        socket_timeout=app.config["REDIS_SOCKET_TIMEOUT"],
    )


def register_ratelimit(app: ApiFlask) -> None:
    """Install the limiter, check every route's policy, and hook the check in.

    Runs after the blueprints are registered, so that a policy naming a missing or
    malformed setting stops start-up instead of failing its first request.
    """
    if not app.config["RATELIMIT_ENABLED"]:
        return
    backend = make_backend(app)
    if isinstance(backend, RedisBackend):
        app.readiness_checks["redis"] = backend.client.ping
    limiter = app.extensions[EXTENSION] = Limiter(app, backend)
    for endpoint in app.view_functions:
        policy = limiter.policy_for(endpoint)
        if policy is not None:
            limiter.limits(policy)
    app.before_request(limiter.limit_request)
