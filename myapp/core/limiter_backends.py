"""Rate-limit stores: GCRA in memory for one process, or in Redis shared by every worker.

GCRA (the generic cell rate algorithm) keeps one number per key, the
"theoretical arrival time" (TAT): a limit of N per W seconds lets a request in
when, after adding one emission interval I = W/N, the TAT is at most W ahead of
now. That gives bursts of at most N, a steady N per W, no 2x burst at window
edges, and O(1) memory per key. All arithmetic is in integer microseconds.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry


# Compared by identity: a policy's limits are parsed once, and the RateLimit-Policy
# header is cached per tuple of them, where hashing three fields each request costs.
@dataclass(frozen=True, eq=False)
class Limit:
    """N requests per W seconds under a policy name."""

    quota: int
    window: int
    name: str

    # Cached: read several times per request, and a Limit never changes.
    @functools.cached_property
    def window_us(self) -> int:
        """The window in microseconds."""
        return self.window * 1_000_000

    @functools.cached_property
    def interval_us(self) -> int:
        """The emission interval: how long one request's slot takes to refill."""
        return self.window_us // self.quota

    @functools.cached_property
    def quota_text(self) -> str:
        """The quota as the X-RateLimit-Limit field gives it."""
        return str(self.quota)

    @functools.cached_property
    def field_name(self) -> str:
        """The name as the RateLimit field quotes it."""
        return f'"{self.name}"'


class Backend(Protocol):
    """Where TATs live: `hit` checks and, when every limit admits, records one request."""

    #: What the store is, for log lines ("Redis at 10.0.0.5:6379/0").
    where: str

    def hit(self, key: str, limits: Sequence[Limit]) -> tuple[bool, list[int]]:
        """Return (allowed, per limit: microseconds from now until its TAT)."""


def gcra(tats: Sequence[int | None], limits: Sequence[Limit], now: int) -> tuple[bool, list[int]]:
    """Apply GCRA to the stored TATs; return whether to admit and the new TATs."""
    current = []
    allowed = True
    for tat, limit in zip(tats, limits, strict=True):
        tat = now if tat is None or tat < now else tat
        allowed = allowed and tat + limit.interval_us - now <= limit.window_us
        current.append(tat)
    if allowed:
        current = [tat + limit.interval_us for tat, limit in zip(current, limits, strict=True)]
    return allowed, current


class MemoryBackend:
    """TATs in a dict guarded by a lock: exact within one process, lost on restart."""

    sweep_every = 10_000
    where = "this process's memory"

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self._clock = clock  # nanoseconds; tests drive their own
        self._tats: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writes = 0

    def hit(self, key: str, limits: Sequence[Limit]) -> tuple[bool, list[int]]:
        """Check and record one request against every limit, atomically."""
        if len(limits) == 1:
            return self._hit_one(f"{key}:{limits[0].name}", limits[0])
        keys = [f"{key}:{limit.name}" for limit in limits]
        with self._lock:
            now = self._clock() // 1000
            allowed, tats = gcra([self._tats.get(k) for k in keys], limits, now)
            if allowed:
                self._tats.update(zip(keys, tats, strict=True))
                self._written(now)
        return allowed, [tat - now for tat in tats]

    def _hit_one(self, key: str, limit: Limit) -> tuple[bool, list[int]]:
        # `gcra` for the usual one-limit policy, without its lists: it runs on every
        # request. tests/core/test_ratelimit.py holds the two to the same answers.
        with self._lock:
            now = self._clock() // 1000
            tat = max(self._tats.get(key, now), now)
            allowed = tat + limit.interval_us - now <= limit.window_us
            if allowed:
                tat = self._tats[key] = tat + limit.interval_us
                self._written(now)
        return allowed, [tat - now]

    def _written(self, now: int) -> None:
        self._writes += 1
        if self._writes % self.sweep_every == 0:
            self._sweep(now)

    def _sweep(self, now: int) -> None:
        # A TAT in the past means a full bucket, the same as no entry at all.
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]


# One round trip: read every TAT, decide, write them all only when every limit
# admits. Redis's own clock is used so workers on different hosts agree, and
# keys expire when their bucket is full again so Redis never grows unbounded.
# ARGV holds, per key, the emission interval and the window in microseconds.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local allowed = 1
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  if tat + interval - now > window then allowed = 0 end
  tats[i] = tat
end
local out = {allowed}
for i = 1, #KEYS do
  local tat = tats[i]
  if allowed == 1 then
    tat = tat + tonumber(ARGV[2 * i - 1])
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  end
  out[i + 1] = tat - now
end
return out
"""

# What EVALSHA names the script by, as Redis works it out.
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class RedisBackend:
    """TATs in Redis, checked by one Lua script called by its SHA: exact across workers."""

    def __init__(self, url: str, *, connect_timeout: float, socket_timeout: float) -> None:
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            # A dead Redis must cost one timeout, never several.
            retry=Retry(NoBackoff(), 0),
        )
        found = self.client.connection_pool.connection_kwargs
        place = found.get("path") or f"{found.get('host')}:{found.get('port')}/{found.get('db', 0)}"
        self.where = f"Redis at {place}"  # never the URL: it may hold a password

    def hit(self, key: str, limits: Sequence[Limit]) -> tuple[bool, list[int]]:
        """Check and record one request against every limit in one round trip."""
        args: list[Any] = [f"{key}:{limit.name}" for limit in limits]
        for limit in limits:
            args += (limit.interval_us, limit.window_us)
        try:
            reply = self._evalsha(len(limits), args)
        except NoScriptError:  # a new, restarted or flushed Redis: load it, once
            self.client.script_load(GCRA_SCRIPT)
            reply = self._evalsha(len(limits), args)
        # Lua numbers come back as Redis integers, which redis-py gives as ints.
        until_full: list[int] = reply[1:]
        return reply[0] == 1, until_full

    def _evalsha(self, numkeys: int, args: Sequence[Any]) -> Any:
        """EVALSHA of the limiter's script (myapp.core.fastpath sends it more directly)."""
        try:
            return self.client.evalsha(GCRA_SHA, numkeys, *args)
        except Exception:
            raise  # redis-py keeps or drops the connection as the error needs
        except BaseException:
            # Cut short between sending and reading (SystemExit from a worker's abort
            # handler, KeyboardInterrupt): redis-py puts the connection back with the
            # reply still to come, which must never be read as the next check's answer.
            self.client.connection_pool.disconnect()
            raise
