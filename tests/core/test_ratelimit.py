"""Rate limiting: both backends through one table, then Redis's failure modes."""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import re
import socket
import threading
import time

import pytest
import redis as redis_lib
from hypothesis import given, settings
from hypothesis import strategies as st

from myapp import create_app
from myapp.core import ApiResult, api_request
from myapp.core.fastpath.redis_evalsha import EvalshaRedisBackend
from myapp.core.limiter_backends import GCRA_SCRIPT, Limit, MemoryBackend, RedisBackend, gcra
from myapp.core.policies import parse_limits
from myapp.core.ratelimit import EXTENSION, ratelimit, register_ratelimit

ROUTE = "/v1/calc/add?a=1&b=2"


def make_app(backend_url=None, **config):
    """An app with a tight default limit and, optionally, Redis behind it."""
    settings = {"TESTING": True, "RATELIMIT_DEFAULT": "5/minute", "REDIS_URL": backend_url}
    settings.update(config)
    app = create_app(settings)

    @app.post("/login")
    @ratelimit("2/minute", name="auth", sensitive=True)
    def login():
        return ApiResult({"ok": True})

    return app


@pytest.fixture(params=["memory", "redis"])
def backend_url(request):
    """None for the in-memory backend, a fresh Redis URL for the Redis one."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_url")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("300/minute", [(300, 60, "p")]),
        ("5/minute;100/hour", [(5, 60, "p-60s"), (100, 3600, "p-3600s")]),
        ("10/5seconds", [(10, 5, "p")]),
        ("1 per day", [(1, 86400, "p")]),
    ],
)
def test_parse_limits(spec, expected):
    assert [(lim.quota, lim.window, lim.name) for lim in parse_limits(spec, "p")] == expected


@pytest.mark.parametrize(
    "spec", ["", "0/minute", "5/fortnight", "five/minute", "5/0seconds", ";", "2000000/second"]
)
def test_parse_limits_rejects_nonsense(spec):
    with pytest.raises(ValueError, match="rate limit"):
        parse_limits(spec, "p")


def test_admits_exactly_n_with_decreasing_headers(backend_url):
    client = make_app(backend_url).test_client()
    responses = [client.get(ROUTE) for _ in range(8)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == [4, 3, 2, 1, 0, 0, 0, 0]
    for response, left in zip(responses, remaining, strict=True):
        assert response.headers["RateLimit-Policy"] == '"default";q=5;w=60'
        assert re.fullmatch(rf'"default";r={left};t=\d+', response.headers["RateLimit"])
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    denied = responses[5]
    assert denied.mimetype == "application/problem+json"
    body = denied.get_json()
    assert body["status"] == 429
    assert body["type"].endswith("/rate-limited")
    assert body["request_id"] == denied.headers["X-Request-ID"]
    # One slot refills every 60/5 = 12 seconds.
    assert 1 <= int(denied.headers["Retry-After"]) <= 12


def test_reset_is_honoured(backend_url):
    client = make_app(backend_url, RATELIMIT_DEFAULT="2/second").test_client()
    assert [client.get(ROUTE).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert [client.get(ROUTE).status_code for _ in range(3)] == [200, 200, 429]


def test_separate_clients_have_separate_buckets(backend_url):
    client = make_app(backend_url, RATELIMIT_DEFAULT="2/minute").test_client()
    first = [client.get(ROUTE, environ_base={"REMOTE_ADDR": "10.0.0.1"}) for _ in range(3)]
    second = [client.get(ROUTE, environ_base={"REMOTE_ADDR": "10.0.0.2"}) for _ in range(3)]
    assert [r.status_code for r in first] == [200, 200, 429]
    assert [r.status_code for r in second] == [200, 200, 429]


def test_route_policy_is_its_own_bucket(backend_url):
    client = make_app(backend_url).test_client()
    assert [client.post("/login").status_code for _ in range(3)] == [200, 200, 429]
    response = client.get(ROUTE)
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "4"


def test_several_limits_and_a_denial_consumes_nothing(backend_url):
    client = make_app(backend_url, RATELIMIT_DEFAULT="2/second;3/minute").test_client()
    statuses = [client.get(ROUTE).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    last = client.get(ROUTE)
    assert last.headers["RateLimit-Policy"] == ('"default-1s";q=2;w=1, "default-60s";q=3;w=60')
    time.sleep(1.05)
    # The per-second denials did not spend the per-minute quota: one is left.
    assert [client.get(ROUTE).status_code for _ in range(2)] == [200, 429]
    assert client.get(ROUTE).headers["RateLimit"].startswith('"default-60s";r=0;')


def test_headers_on_errors_of_limited_routes(backend_url):
    client = make_app(backend_url).test_client()
    response = client.get("/v1/calc/divide?a=1&b=0")
    assert response.status_code == 422
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert "RateLimit" in response.headers


def test_health_is_exempt(backend_url):
    client = make_app(backend_url, RATELIMIT_DEFAULT="1/minute").test_client()
    responses = [client.get("/health") for _ in range(5)]
    assert all(r.status_code == 200 for r in responses)
    assert all("RateLimit" not in r.headers for r in responses)


def test_the_verdict_reaches_the_requests_headers_before_the_view_runs(backend_url):
    app = make_app(backend_url)
    with app.test_request_context(ROUTE):
        assert app.extensions[EXTENSION].limit_request() is None  # the before-request hook
        fields = dict(api_request().response_headers)
        result = app.view_functions["calc.add_query"]()
    assert fields["X-RateLimit-Remaining"] == "4"
    assert fields["RateLimit-Policy"] == '"default";q=5;w=60'
    assert isinstance(result, ApiResult)
    assert result.value == {"sum": 3}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope-1", 404), ("PUT", "/v1/calc/add", 405), ("GET", "/v1/aliases/0", 404)],
)
def test_paths_no_route_matches_count_against_the_default(backend_url, method, path, status):
    client = make_app(backend_url, RATELIMIT_DEFAULT="2/minute").test_client()
    responses = [client.open(path, method=method) for _ in range(3)]
    assert [r.status_code for r in responses] == [status, status, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    assert responses[0].headers["RateLimit-Policy"] == '"default";q=2;w=60'


def test_the_limit_runs_before_authentication(backend_url):
    client = make_app(backend_url, RATELIMIT_DEFAULT="1/minute").test_client()
    assert client.get("/v1/users/me").status_code == 401
    denied = client.get("/v1/users/me")
    assert denied.status_code == 429
    assert denied.headers["Retry-After"]


def test_identity_loader_keys_by_user(backend_url):
    app = make_app(backend_url, RATELIMIT_DEFAULT="2/minute")
    app.extensions[EXTENSION].identity_loader = lambda _request: "user:7"
    client = app.test_client()
    statuses = [
        client.get(ROUTE, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"}).status_code for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_forwarded_for_is_ignored_without_trusted_proxies():
    client = make_app(RATELIMIT_DEFAULT="2/minute").test_client()
    statuses = [
        client.get(ROUTE, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_forwarded_for_counts_through_trusted_hops():
    client = make_app(RATELIMIT_DEFAULT="1/minute", TRUSTED_PROXY_HOPS=1).test_client()
    # A client-supplied first hop is ignored; the proxy's appended address is the key.
    a = client.get(ROUTE, headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.1"})
    b = client.get(ROUTE, headers={"X-Forwarded-For": "2.2.2.2, 198.51.100.1"})
    c = client.get(ROUTE, headers={"X-Forwarded-For": "198.51.100.2"})
    assert [a.status_code, b.status_code, c.status_code] == [200, 429, 200]


def test_memory_backend_sweeps_full_buckets():
    backend = MemoryBackend()
    backend.sweep_every = 10
    limit = Limit(100, 1, "x")
    for i in range(10):
        backend.hit(f"k{i}", [limit])
    assert len(backend._tats) <= 10
    time.sleep(0.02)
    for i in range(10):
        backend.hit(f"j{i}", [limit])
    # The sweep dropped the k* entries whose buckets had refilled.
    assert not any(key.startswith("k") for key in backend._tats)


@settings(max_examples=200, deadline=None, database=None)
@given(
    quota=st.integers(1, 50),
    window=st.integers(1, 120),
    # Microseconds between requests: bursts, steady traffic and long pauses.
    gaps=st.lists(st.integers(0, 10_000_000), max_size=80),
)
def test_one_limit_path_agrees_with_gcra(quota, window, gaps):
    limit = Limit(quota, window, "x")
    now = 10**12
    backend = MemoryBackend(clock=lambda: now * 1000)
    tat = None
    for gap in gaps:
        now += gap
        allowed, tats = gcra([tat], [limit], now)
        assert backend.hit("k", [limit]) == (allowed, [tats[0] - now])
        if allowed:
            tat = tats[0]


# --- Redis specifics -----------------------------------------------------------------

#: The stock backend (redis-py's own `evalsha`) and the fast path's.
REDIS_BACKENDS = pytest.mark.parametrize(
    "redis_backend", [RedisBackend, EvalshaRedisBackend], ids=["stock", "fast"]
)


@REDIS_BACKENDS
def test_one_round_trip_per_check(redis_server, redis_url, redis_backend):
    backend = redis_backend(redis_url, connect_timeout=1, socket_timeout=1)
    limits = parse_limits("5/minute;100/hour", "p")
    backend.hit("warmup", limits)  # loads the script once
    probe = redis_server.client()
    probe.config_resetstat()
    admitted = sum(backend.hit(f"key{i % 3}", limits)[0] for i in range(20))
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in probe.info("commandstats").items()}
    calls.pop("info", None)
    calls.pop("config|resetstat", None)
    # Server stats count the script's own commands too: per check one TIME and a
    # GET per key, a SET per key when admitted. Anything sent besides EVALSHA
    # would break this sum.
    assert admitted == 15
    assert calls == {"evalsha": 20, "time": 20, "get": 40, "set": 2 * admitted}


@REDIS_BACKENDS
def test_a_flushed_script_is_loaded_again_and_counting_goes_on(
    redis_server, redis_url, redis_backend
):
    """Redis forgets scripts on restart or SCRIPT FLUSH; the next check loads it again."""
    backend = redis_backend(redis_url, connect_timeout=1, socket_timeout=1)
    limits = parse_limits("3/minute", "p")
    probe = redis_server.client()
    probe.script_flush()

    first = backend.hit("k", limits)
    connections = probe.info("stats")["total_connections_received"]
    probe.script_flush()
    rest = [backend.hit("k", limits) for _ in range(3)]

    assert [first[0], *(allowed for allowed, _ in rest)] == [True, True, True, False]
    assert probe.script_exists(hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()) == [True]
    # Redis's "no such script" is a whole answer: the connection goes on being used.
    assert probe.info("stats")["total_connections_received"] == connections


@REDIS_BACKENDS
def test_redis_keys_expire_when_the_bucket_is_full_again(redis_server, redis_url, redis_backend):
    backend = redis_backend(redis_url, connect_timeout=1, socket_timeout=1)
    backend.hit("k", parse_limits("5/minute", "p"))
    ttl = redis_server.client().pttl("k:p")
    assert 0 < ttl <= 12_000


class SlowFirstReplyRedis:
    """Just enough of a Redis for RedisBackend: its first EVALSHA is answered late.

    HELLO gets RESP3, every other command +OK. The nth EVALSHA on the cth
    connection is answered "admitted, c * 1000 + n microseconds", so a test can
    tell which command's answer a check read; only the first connection's first
    EVALSHA waits `delay` seconds for its answer.
    """

    def __init__(self, delay: float):
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        for number in itertools.count(1):
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(connection, number), daemon=True).start()

    def _serve(self, connection, number):
        stream = connection.makefile("rb")
        answered = 0
        try:
            while line := stream.readline():
                words = [
                    stream.read(int(stream.readline()[1:]) + 2)[:-2] for _ in range(int(line[1:]))
                ]
                if words[0].upper() == b"HELLO":  # redis-py's handshake, in RESP3
                    connection.sendall(b"%1\r\n$5\r\nproto\r\n:3\r\n")
                    continue
                if words[0].upper() != b"EVALSHA":
                    connection.sendall(b"+OK\r\n")
                    continue
                answered += 1
                if number == answered == 1:
                    time.sleep(self.delay)
                connection.sendall(b"*2\r\n:1\r\n:%d\r\n" % (number * 1000 + answered))
        except OSError:
            pass  # the client hung up
        finally:
            connection.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def slow_first_reply():
    server = SlowFirstReplyRedis(delay=1.5)
    yield server
    server.close()


@REDIS_BACKENDS
def test_a_timed_out_reply_is_never_read_as_a_later_answer(slow_first_reply, redis_backend):
    backend = redis_backend(slow_first_reply.url, connect_timeout=1, socket_timeout=0.5)
    limits = parse_limits("5/minute", "p")
    with pytest.raises(redis_lib.TimeoutError):
        backend.hit("k", limits)
    # The late answer (1001) is still to come on the first connection: the second
    # check is answered on a new one.
    assert backend.hit("k", limits) == (True, [2001])


class Interrupted(BaseException):
    """Stands for what may end a check between sending and reading (SystemExit)."""


@REDIS_BACKENDS
def test_a_check_cut_short_never_leaves_its_reply_for_the_next(
    slow_first_reply, monkeypatch, redis_backend
):
    backend = redis_backend(slow_first_reply.url, connect_timeout=1, socket_timeout=5)
    limits = parse_limits("5/minute", "p")
    backend.client.ping()  # the pooled connection has made its handshake
    read = redis_lib.connection.Connection.read_response
    reads = []

    def cut_short_once(connection, *args, **kwargs):
        reads.append(connection)
        if len(reads) == 1:
            raise Interrupted
        return read(connection, *args, **kwargs)

    monkeypatch.setattr(redis_lib.connection.Connection, "read_response", cut_short_once)
    with pytest.raises(Interrupted):
        backend.hit("k", limits)
    # On the first connection this would read the first check's late answer, 1001.
    assert backend.hit("k", limits) == (True, [2001])


def _hammer(args):
    url, requests = args
    app = create_app({"TESTING": True, "REDIS_URL": url, "RATELIMIT_DEFAULT": "50/hour"})
    client = app.test_client()
    return [client.get(ROUTE).status_code for _ in range(requests)]


def test_exact_across_processes(redis_url):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_hammer, [(redis_url, 40)] * 4)
    statuses = [status for chunk in results for status in chunk]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 110


def _outage_app(url):
    return make_app(url, RATELIMIT_STORE_RETRY_INTERVAL=0.3, REDIS_SOCKET_TIMEOUT=0.2)


def test_redis_refusing_connections(caplog):
    from tests.servers import free_port

    port = free_port()
    app = _outage_app(f"redis://:hunter2secret@127.0.0.1:{port}/0")
    client = app.test_client()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    ordinary = [client.get(ROUTE) for _ in range(5)]
    sensitive = [client.post("/login") for _ in range(3)]
    elapsed = time.monotonic() - started
    assert [r.status_code for r in ordinary] == [200] * 5
    assert all("RateLimit" not in r.headers for r in ordinary)
    assert [r.status_code for r in sensitive] == [503] * 3
    body = sensitive[0].get_json()
    assert body["type"].endswith("/service-unavailable")
    assert int(sensitive[0].headers["Retry-After"]) >= 1
    assert elapsed < 2
    warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1
    # Says what is down, where, and what it means; never the URL's password.
    assert f"the rate limiter's store, Redis at 127.0.0.1:{port}/0, is unreachable" in warnings[0]
    assert "ordinary routes are served unlimited and sensitive routes answer 503" in warnings[0]
    assert "hunter2secret" not in warnings[0]


def test_redis_stalled_then_resumed(private_redis, caplog):
    app = _outage_app(private_redis.url)
    client = app.test_client()
    assert client.get(ROUTE).headers["X-RateLimit-Remaining"] == "4"
    private_redis.pause()
    try:
        started = time.monotonic()
        ordinary = client.get(ROUTE)
        sensitive = client.post("/login")
        elapsed = time.monotonic() - started
    finally:
        private_redis.resume()
    assert ordinary.status_code == 200
    assert sensitive.status_code == 503
    # Each request waits at most one socket timeout (0.2 s); the second skips Redis.
    assert elapsed < 1.0
    time.sleep(0.35)
    recovered = client.get(ROUTE)
    assert recovered.status_code == 200
    assert "X-RateLimit-Remaining" in recovered.headers
    assert client.post("/login").status_code == 200
    messages = [r.getMessage() for r in caplog.records]
    assert any("reachable again" in m for m in messages)


def test_redis_restarted_service_resumes(private_redis):
    app = _outage_app(private_redis.url)
    client = app.test_client()
    assert client.post("/login").status_code == 200
    private_redis.stop()
    assert client.post("/login").status_code == 503
    assert client.get(ROUTE).status_code == 200
    private_redis.start()
    time.sleep(0.35)
    assert client.post("/login").status_code == 200
    assert client.get(ROUTE).headers["X-RateLimit-Remaining"] == "4"


def test_redis_errors_other_than_outages_fail_the_same_way(redis_url):
    app = _outage_app(redis_url.replace("/0", "/99"))  # a database index that does not exist
    client = app.test_client()
    assert client.get(ROUTE).status_code == 200
    assert client.post("/login").status_code == 503
    assert isinstance(redis_lib.ResponseError("x"), redis_lib.RedisError)


def test_ratelimit_marks_a_view_and_leaves_it_as_it_is():
    def view():
        return ApiResult({"ok": True})

    marked = ratelimit("5/minute", name="strict")(view)

    assert marked is view
    assert (marked.ratelimit_policy.name, marked.ratelimit_policy.spec) == ("strict", "5/minute")
    assert marked().value == {"ok": True}  # no app needed: the mark is data, not a wrapper


def test_a_policy_naming_a_missing_setting_stops_start_up():
    app = make_app(None)
    app.add_url_rule("/typo", view_func=ratelimit("RATELIMIT_TYPO")(lambda: {}))
    with pytest.raises(KeyError, match="RATELIMIT_TYPO"):
        register_ratelimit(app)
