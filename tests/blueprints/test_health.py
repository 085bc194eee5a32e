"""The liveness probe, called directly and over HTTP."""

from __future__ import annotations

import pytest

from myapp.blueprints.health import health, ready
from myapp.core import ApiResult, ServiceUnavailable
from tests.helpers import assert_problem, assert_success


def test_health_view_reports_ok(app):
    with app.test_request_context("/health"):
        result = health()

    # The contract lets a view return a plain dict, which becomes an ApiResult.
    result = result if isinstance(result, ApiResult) else ApiResult(result)
    assert result.value == {"status": "ok"}
    assert result.status == 200


def test_get_health(client):
    response = client.get("/health", headers={"X-Request-ID": "probe-1"})

    assert assert_success(response) == {"status": "ok"}
    assert response.data == b'{"data":{"status":"ok"}}'
    assert response.headers["X-Request-ID"] == "probe-1"


def test_head_health(client):
    response = client.head("/health")

    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Type"] == "application/json"


def test_health_only_answers_get(client):
    response = client.post("/health", json={})

    assert_problem(response, 405)
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS"}


def test_health_with_a_trailing_slash_is_not_found(client):
    assert_problem(client.get("/health/"), 404)


def failing_check():
    raise ConnectionError("secret-host:5432 refused")


def test_ready_view_reports_every_check(app):
    app.readiness_checks = {"cache": lambda: None, "queue": lambda: True}

    with app.test_request_context("/health/ready"):
        result = ready()

    result = result if isinstance(result, ApiResult) else ApiResult(result)
    assert result.value == {"status": "ready", "checks": {"cache": "ok", "queue": "ok"}}
    assert result.status == 200


def test_ready_view_raises_503_naming_what_is_down(app):
    app.readiness_checks = {"cache": lambda: None, "queue": failing_check}

    with app.test_request_context("/health/ready"), pytest.raises(ServiceUnavailable) as caught:
        ready()

    assert "queue" in caught.value.detail
    assert "cache" not in caught.value.detail


def test_get_ready_checks_the_real_dependencies(client):
    data = assert_success(client.get("/health/ready"))

    assert data["status"] == "ready"
    assert "database" in data["checks"]
    assert set(data["checks"].values()) == {"ok"}


def test_get_ready_with_a_dependency_down_is_a_503(app, caplog):
    app.readiness_checks["queue"] = failing_check

    response = app.test_client().get("/health/ready")

    problem = assert_problem(response, 503, "https://myapp.dev/problems/service-unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert problem["checks"]["queue"] == "down"
    assert problem["checks"]["database"] == "ok"
    assert "secret-host" not in response.data.decode()
    assert "ConnectionError" not in response.data.decode()
    assert "queue" in caplog.text
