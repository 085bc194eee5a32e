"""/metrics: who may read it, what it counts, and the sum over worker processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from myapp import __version__, create_app
from myapp.config import ConfigError
from tests.helpers import assert_problem
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-0123456789abcdef-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def samples(text):
    """{(sample name, frozenset of labels): value} of an exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client):
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def requests_total(values, method, route, status):
    key = (
        "http_requests_total",
        frozenset({"method": method, "route": route, "status": status}.items()),
    )
    return values.get(key, 0)


@pytest.fixture
def app(make_app):
    return make_app(METRICS_TOKEN=TOKEN, RATELIMIT_DEFAULT="1000/minute")


@pytest.mark.parametrize("token", ["short-token", "a" * 48])
def test_a_token_easy_to_guess_stops_start_up(make_app, token):
    with pytest.raises(ConfigError, match="METRICS_TOKEN needs at least 32"):
        make_app(METRICS_TOKEN=token)


def test_metrics_are_off_and_absent_without_a_token(make_app):
    app = make_app()

    assert_problem(app.test_client().get("/metrics", headers=SCRAPE), 404)
    assert "metrics" not in app.extensions


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer  {TOKEN}"],
)
def test_only_the_token_holder_may_scrape(app, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = app.test_client().get("/metrics", headers=headers)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_endpoint_is_not_in_the_document(app):
    document = app.test_client().get("/openapi.json").get_json()

    assert "/metrics" not in document["paths"]


def test_requests_are_counted_by_method_rule_and_status(app, client):
    for _ in range(3):
        client.get("/health")
    client.get("/v1/aliases/12")  # 401: no token
    client.get("/v1/aliases/34")
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    client.post("/v1/calc/add", json={"a": 1, "b": 2})

    values = scrape(client)

    assert requests_total(values, "GET", "/health", "200") == 3
    assert requests_total(values, "GET", "/v1/aliases/<id:alias_id>", "401") == 2
    assert requests_total(values, "GET", "unmatched", "404") == 2
    assert requests_total(values, "POST", "/v1/calc/add", "200") == 1
    assert not [key for key in values if ("path", "/no/such/path/1") in key[1]]
    assert not any("/v1/aliases/12" in str(key) for key in values)
    info = ("app_info", frozenset({"version": __version__}.items()))
    assert values[info] == 1


def test_durations_fall_in_buckets_from_a_millisecond_to_ten_seconds(app, client):
    client.get("/health")

    values = scrape(client)

    labels = {"method": "GET", "route": "/health"}
    buckets = {
        dict(key[1])["le"]: value
        for key, value in values.items()
        if key[0] == "http_request_duration_seconds_bucket"
        and labels.items() <= dict(key[1]).items()
    }
    assert list(buckets) == [
        "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5",
        "5.0", "10.0", "+Inf",
    ]  # fmt: skip
    assert buckets["+Inf"] == 1
    count = ("http_request_duration_seconds_count", frozenset(labels.items()))
    assert values[count] == 1


def test_the_limiters_decisions_are_counted_by_policy_and_outcome(make_app):
    app = make_app(METRICS_TOKEN=TOKEN, RATELIMIT_DEFAULT="3/minute")
    client = app.test_client()
    statuses = [client.get("/v1/calc/add?a=1&b=2").status_code for _ in range(5)]

    values = scrape(client)  # the scrape itself is exempt: a scraper is never refused

    assert statuses == [200, 200, 200, 429, 429]
    decision = "ratelimit_decisions_total"
    allowed = values[(decision, frozenset({"policy": "default", "outcome": "allowed"}.items()))]
    denied = values[(decision, frozenset({"policy": "default", "outcome": "denied"}.items()))]
    assert (allowed, denied) == (3, 2)


def test_limiter_store_errors_and_database_errors_are_counted(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "ACCESS_LOG": False,
            "METRICS_TOKEN": TOKEN,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "RATELIMIT_STORE_RETRY_INTERVAL": 0,
            "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3",
        }
    )
    client = app.test_client()

    served = client.get("/v1/calc/add?a=1&b=2")
    down = client.get("/v1/users/me", headers={"Authorization": "Bearer " + "t" * 43})

    assert served.status_code == 200  # the store is down, ordinary routes fail open
    assert_problem(down, 503, "https://myapp.dev/problems/service-unavailable")
    values = samples(client.get("/metrics", headers=SCRAPE).get_data(as_text=True))
    assert values[("ratelimit_store_errors_total", frozenset())] >= 2
    fail_open = (
        "ratelimit_decisions_total",
        frozenset({"policy": "default", "outcome": "fail_open"}.items()),
    )
    assert values[fail_open] >= 2
    database = ("database_errors_total", frozenset({"kind": "OperationalError"}.items()))
    assert values[database] == 1


WORKER = textwrap.dedent(
    """
    import sys
    from myapp import create_app
    from myapp.core.logs import stop_logging

    app = create_app({"TESTING": True, "METRICS_TOKEN": sys.argv[1], "ACCESS_LOG": False,
                      "DATABASE_URL": "sqlite://"})
    client = app.test_client()
    for _ in range(int(sys.argv[2])):
        assert client.get("/health").status_code == 200
    if sys.argv[3] == "scrape":
        response = client.get("/metrics", headers={"Authorization": "Bearer " + sys.argv[1]})
        sys.stdout.write(response.get_data(as_text=True))
    stop_logging()
    """
)


def test_processes_sharing_a_directory_are_scraped_as_one(tmp_path):
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(count, action):
        done = subprocess.run(
            [sys.executable, "-c", WORKER, TOKEN, str(count), action],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return done.stdout

    run(4, "count")
    run(5, "count")
    text = run(1, "scrape")

    values = samples(text)
    assert requests_total(values, "GET", "/health", "200") == 10
    assert values[("app_info", frozenset({"version": __version__}.items()))] == 1
    assert len(list(tmp_path.glob("counter_*.db"))) == 3
