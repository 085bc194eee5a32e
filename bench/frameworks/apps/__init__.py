"""One module per stack, each with `create_app(redis_url=None, *, ratelimit=True)`.

Every stack serves the same endpoints with the same rules (see common.py). The
Redis-limited route is limited only when `redis_url` is given and `ratelimit` is
true, so the other endpoints are measured without a rate-limit extension
installed, except in myapp, whose in-memory limiter is part of its stack.
"""
