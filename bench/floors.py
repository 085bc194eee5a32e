"""The floors a Redis limiter is held to: one bare redis-py EVALSHA, nothing around it.

Of myapp's limiter's own GCRA script, with a key and the arguments the limiter would
pass it under the same limit, so redis-server does the same work; or of `return 1`.
Shared by bench/ratelimit.py and the framework harness (bench/frameworks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import redis

from myapp.core.limiter_backends import GCRA_SCRIPT, Limit

TRIVIAL_SCRIPT = "return 1"


def bare_evalsha(redis_url: str, script: str, limit: Limit) -> Callable[[], Any]:
    """One bare `client.evalsha` of `script`, loaded and ready to call; `limit` is the
    limit whose arguments the GCRA script gets."""
    client = redis.Redis.from_url(redis_url)
    sha = client.script_load(script)
    if script == GCRA_SCRIPT:
        return functools.partial(
            client.evalsha, sha, 1, "bench:floor", limit.interval_us, limit.window_us
        )
    return functools.partial(client.evalsha, sha, 0)
