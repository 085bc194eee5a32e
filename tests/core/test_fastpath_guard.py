"""The fast path's guard: verified versions get it, anything else gets the stock code."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from myapp.core import ApiFlask, ApiRequest, ApiResponse, register_fast_path
from myapp.core.fastpath import VERIFIED, installed_versions, unverified, verified_libraries

#: The lowest verified version of each library.
LOWEST = {name: low for name, (low, _) in VERIFIED.items()}
#: Installing the fast path imports what it mirrors, which only a verified Flask has.
NEEDS_VERIFIED_FLASK = pytest.mark.skipif(
    not {"flask", "werkzeug"} <= verified_libraries(),
    reason="the installed Flask or Werkzeug is outside the fast path's range",
)


@pytest.mark.parametrize(
    ("installed", "outside"),
    [
        ("3.1.3", False),
        ("3.1.9", False),
        ("3.1.3rc1", True),
        ("3.1.2", True),  # before RequestContext._session
        ("3.0.6", True),
        ("3.2.0.dev0", True),  # sorts before 3.2, but leads to it
        ("3.2.0", True),
        ("4.0.0", True),
    ],
)
def test_a_version_is_verified_only_inside_its_range(installed, outside):
    versions = {**LOWEST, "flask": installed}
    assert unverified(versions) == ({"flask": installed} if outside else {})


@NEEDS_VERIFIED_FLASK
def test_the_pinned_versions_are_verified():
    """requirements.txt pins versions inside VERIFIED: CI tests the fast path it ships."""
    assert unverified(installed_versions()) == {}


@NEEDS_VERIFIED_FLASK
def test_verified_versions_get_the_whole_fast_path(caplog):
    from myapp.core.fastpath.flask_cycle import FastAppContext

    app = ApiFlask(__name__)
    with caplog.at_level(logging.WARNING):
        register_fast_path(app, LOWEST)

    assert app.fast_path == set(VERIFIED)
    assert app.request_class is not ApiRequest
    assert issubclass(app.request_class, ApiRequest)
    assert app.response_class is not ApiResponse
    assert "full_dispatch_request" in vars(app)
    assert isinstance(app.app_context(), FastAppContext)
    assert not caplog.records


def test_an_unverified_flask_gets_the_stock_cycle_and_one_warning(caplog):
    """Whatever Flask is installed: the stock path is all that is bound."""
    app = ApiFlask(__name__)
    with caplog.at_level(logging.WARNING):
        register_fast_path(app, {**LOWEST, "flask": "3.2.0.dev0"})

    assert app.fast_path == {"werkzeug", "voluptuous", "redis"}
    # Flask's own methods and classes: nothing of the fast path is bound.
    assert app.request_class is ApiRequest
    assert app.response_class is ApiResponse
    assert not {"full_dispatch_request", "process_response", "ensure_sync"} & vars(app).keys()
    assert type(app.app_context()).__module__.startswith("flask.")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    low, high = VERIFIED["flask"]
    assert f"flask 3.2.0.dev0 (verified: >={low},<{high})" in record.getMessage()
    assert "stock" in record.getMessage()


@NEEDS_VERIFIED_FLASK
def test_the_stock_app_still_answers_as_the_fast_one(caplog):
    stock, fast = ApiFlask(__name__), ApiFlask(__name__)
    with caplog.at_level(logging.WARNING):
        register_fast_path(stock, {**LOWEST, "flask": "4.0.0", "werkzeug": "4.0.0"})
    register_fast_path(fast, LOWEST)
    for app in (stock, fast):
        app.add_url_rule("/hello/<id:n>", view_func=lambda n: {"n": n})

    answers = [app.test_client().get("/hello/7") for app in (stock, fast)]

    assert [a.get_json() for a in answers] == [{"data": {"n": 7}}] * 2
    assert [a.headers["Cache-Control"] for a in answers] == ["no-store"] * 2


def test_fast_path_off_installs_nothing_and_says_nothing(caplog):
    app = ApiFlask(__name__)
    app.config["FAST_PATH"] = False
    with caplog.at_level(logging.WARNING):
        register_fast_path(app, {**LOWEST, "flask": "9.0"})

    assert app.fast_path == frozenset()
    assert app.request_class is ApiRequest
    assert not caplog.records


@NEEDS_VERIFIED_FLASK
def test_a_method_the_apps_class_overrides_stays_its_own():
    calls = []

    class OwnProcessing(ApiFlask):
        def process_response(self, response):
            calls.append(response.status_code)
            return super().process_response(response)

    app = OwnProcessing(__name__)
    register_fast_path(app, LOWEST)
    app.add_url_rule("/", view_func=lambda: {"ok": True})

    assert "process_response" not in vars(app)
    assert "full_dispatch_request" in vars(app)
    assert app.test_client().get("/").status_code == 200
    assert calls == [200]
    assert OwnProcessing.process_response is not Flask.process_response
