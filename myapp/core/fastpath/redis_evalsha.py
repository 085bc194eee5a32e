"""The Redis limiter's EVALSHA, sent and read on a pooled connection (redis-py 8).

`Redis.evalsha` runs each command through redis-py's per-command layer:
`Redis.execute_command`, its retry wrapper, telemetry hooks and event dispatch.
This sends the same command on a connection of the same pool, with the same
timeouts and errors. tests/core/test_ratelimit.py runs both backends against a
real Redis and a fake one that answers late.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from myapp.core.limiter_backends import GCRA_SHA, RedisBackend


class EvalshaRedisBackend(RedisBackend):
    """RedisBackend, calling its script without redis-py's per-command layer."""

    def _evalsha(self, numkeys: int, args: Sequence[Any]) -> Any:
        """EVALSHA on one of the client's pooled connections, sent and read directly.

        `client.evalsha` wraps each command in retry, telemetry and event
        bookkeeping that cost about 20 µs inside a request (bench/ratelimit.py). With
        retries off, what it adds is redis-py's OpenTelemetry metrics, which myapp
        does not set up, so these calls would be missing from them. The pool, the
        connections, their timeouts and their errors are the same.
        """
        pool = self.client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_command("EVALSHA", GCRA_SHA, numkeys, *args)  # type: ignore[no-untyped-call]
            return connection.read_response()
        except redis.ResponseError:
            raise  # Redis answered in full: the connection is still in step
        except BaseException:
            # Cut short between sending and reading (SystemExit from a worker's abort
            # handler, KeyboardInterrupt): the reply, when it comes, must never be read
            # as the answer to the next check. redis-py's reads handle their own errors.
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            pool.release(connection)
