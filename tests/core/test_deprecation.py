"""@deprecated: the headers before the sunset, a 410 after it, and the document's flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Blueprint

from myapp.core import ApiResult, dataschema, documents
from myapp.core.deprecation import deprecated
from tests.helpers import assert_problem, assert_success

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
LINK = "https://myapp.dev/changes/old-routes"
PAST = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=30)


def build(make_app, sunset, **config):
    """An app with a deprecated view, a deprecated blueprint, and a current route."""
    app = make_app(**config)
    old = deprecated(since=SINCE, sunset=sunset, link=LINK)(
        Blueprint("old", __name__, url_prefix="/old")
    )

    @old.get("/thing")
    @documents({"n": int})
    def old_thing():
        """A route of a deprecated blueprint."""
        return ApiResult({"n": 1})

    app.register_blueprint(old)

    @app.post("/legacy")
    @documents({"n": int})
    @deprecated(since=SINCE, sunset=sunset)
    @dataschema({"n": int})
    def legacy(data):
        """A deprecated view."""
        return ApiResult(data)

    @app.get("/current")
    @documents({"n": int})
    def current():
        """A route that is not deprecated."""
        return ApiResult({"n": 2})

    return app


def test_a_deprecated_view_says_so_on_every_answer(make_app):
    sunset = later()
    client = build(make_app, sunset).test_client()

    answer = client.post("/legacy", json={"n": 3})
    refused = client.post("/legacy", json={"n": "three"})

    assert assert_success(answer) == {"n": 3}
    for response in (answer, refused):
        assert response.headers["Deprecation"] == f"@{int(SINCE.timestamp())}" == "@1767225600"
        assert response.headers["Sunset"] == sunset.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert refused.status_code == 422
    assert "Link" not in answer.headers  # this one names no page
    current = client.get("/current")
    assert not {"Deprecation", "Sunset"} & set(current.headers.keys())


def test_a_deprecated_blueprint_marks_each_of_its_routes(make_app):
    client = build(make_app, later()).test_client()

    answer = client.get("/old/thing")

    assert assert_success(answer) == {"n": 1}
    assert answer.headers["Deprecation"] == "@1767225600"
    assert answer.headers["Link"] == f'<{LINK}>; rel="deprecation"'


def test_after_the_sunset_the_route_is_a_410_that_names_the_date(make_app):
    client = build(make_app, PAST).test_client()

    for response in (client.post("/legacy", json={"n": 3}), client.get("/old/thing")):
        body = assert_problem(response, 410, "https://myapp.dev/problems/route-retired")
        assert "Mon, 01 Jun 2026 12:00:00 GMT" in body["detail"]
        assert response.headers["Sunset"] == "Mon, 01 Jun 2026 12:00:00 GMT"
    assert LINK in client.get("/old/thing").get_json()["detail"]
    assert client.get("/current").status_code == 200


def test_a_setting_keeps_a_retired_route_serving(make_app):
    client = build(make_app, PAST, SERVE_AFTER_SUNSET=True).test_client()

    answer = client.post("/legacy", json={"n": 3})

    assert assert_success(answer) == {"n": 3}
    assert answer.headers["Sunset"] == "Mon, 01 Jun 2026 12:00:00 GMT"


def test_naive_datetimes_are_utc_and_a_sunset_must_come_after(make_app):
    naive = deprecated(since=datetime(2026, 1, 1), sunset=datetime(2026, 6, 1, 12))
    app = make_app()
    app.post("/naive")(documents()(naive(lambda: ApiResult(None, 204))))

    answer = app.test_client().post("/naive")

    assert answer.headers["Deprecation"] == "@1767225600"
    assert answer.status_code == 410
    with pytest.raises(ValueError, match="sunset comes after"):
        deprecated(since=SINCE, sunset=SINCE)


def test_the_document_marks_deprecated_operations(make_app):
    document = build(make_app, PAST).test_client().get("/openapi.json").get_json()
    paths = document["paths"]

    for operation in (paths["/legacy"]["post"], paths["/old/thing"]["get"]):
        assert operation["deprecated"] is True
        assert (
            "Deprecated since 2026-01-01; from 2026-06-01 12:00 UTC on, a 410"
            in (operation["description"])
        )
        assert operation["responses"]["410"]["content"]["application/problem+json"]
    assert LINK in paths["/old/thing"]["get"]["description"]
    assert "deprecated" not in paths["/current"]["get"]
    assert not any(
        operation.get("deprecated")
        for path, item in paths.items()
        if path.startswith("/v1")
        for operation in item.values()
    )
