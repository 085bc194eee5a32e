"""ApiFlask's request cycle, held to Flask's own.

The fast path (myapp/core/fastpath/flask_cycle.py) replaces Flask's
full_dispatch_request, finalize_request, preprocess_request, dispatch_request,
process_response, do_teardown_request, do_teardown_appcontext and its app context's
push and pop with leaner versions. Each test here runs one scenario on a plain
`flask.Flask`, on a bare `ApiFlask` (Flask's own cycle) and on one with the fast path
installed, built by the same factory, and holds both ApiFlasks' observable sequence
of URL value preprocessors, hooks, views, signals, statuses and routing headers to
Flask's. Only ApiFlask's documented differences are left out of the comparison: its
standard headers (its own last after-request hook), its JSON envelope, 204 rather than
200 for OPTIONS and bodiless redirects.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    after_this_request,
    g,
    has_app_context,
    has_request_context,
    request,
)
from flask.sessions import SessionInterface, SessionMixin
from flask.signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    got_request_exception,
    request_finished,
    request_started,
    request_tearing_down,
)
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from myapp.core import ApiFlask
from myapp.core.fastpath import verified_libraries
from tests.helpers import FastApiFlask

CHILD = "/parent/child/items/5/en"
SIGNALS = (
    appcontext_pushed,
    request_started,
    got_request_exception,
    request_finished,
    request_tearing_down,
    appcontext_tearing_down,
    appcontext_popped,
)
#: One request each: the method, and the path whose `act` parameter trips a hook.
REQUESTS = {
    "child view": ("GET", CHILD),
    "parent view": ("GET", "/parent/list/"),
    "app view": ("GET", "/top"),
    "not found": ("GET", "/parent/nowhere"),
    "wrong method": ("DELETE", "/parent/list/"),
    "strict slashes": ("GET", "/parent/list"),
    "automatic options": ("OPTIONS", CHILD),
    "before returns": ("GET", CHILD + "?act=stop@parent.before"),
    "view aborts": ("GET", CHILD + "?act=abort@view"),
    "view raises handled": ("GET", CHILD + "?act=handled@view"),
    "view raises unhandled": ("GET", CHILD + "?act=unhandled@view"),
    "before raises handled": ("GET", CHILD + "?act=handled@child.before"),
    "before raises unhandled": ("GET", CHILD + "?act=unhandled@app.before"),
    "after raises": ("GET", CHILD + "?act=unhandled@parent.after"),
}


class Handled(Exception):
    """Raised by a hook or view; the app has an error handler for it."""


class Unhandled(Exception):
    """Raised by a hook or view; nothing handles it."""


# The copy is of Flask 3.1's cycle, whose methods these tests call directly; with
# another Flask the fast path is off (tests/core/test_fastpath_guard.py).
pytestmark = pytest.mark.skipif(
    "flask" not in verified_libraries(),
    reason="the installed Flask is outside the fast path's range: nothing here to hold",
)

#: ApiFlask on Flask's own cycle, and with the fast path's copy of it.
API_CLASSES = (ApiFlask, FastApiFlask)


def parity(scenario):
    """Run `scenario(cls)` on Flask, then on both ApiFlasks; hold them to Flask; return it."""
    theirs = scenario(Flask)
    for cls in API_CLASSES:
        assert scenario(cls) == theirs, cls.__name__
    return theirs


def describe(exc):
    return None if exc is None else f"{type(exc).__name__}: {exc}"


def status(response):
    """The status a hook saw; None for OPTIONS, which ApiFlask answers 204 and Flask 200."""
    return None if request.method == "OPTIONS" else response.status_code


def outcome(response):
    """What the client saw that both classes must agree on."""
    code = None if response.request.method == "OPTIONS" else response.status_code
    return code, sorted(response.allow), response.headers.get("Location")


def trip(place):
    """Do what the request's `act=verb@place` asks, if `place` is here."""
    verb, _, where = request.args.get("act", "").partition("@")
    if where != place:
        return None
    if verb == "abort":
        abort(403)
    if verb == "handled":
        raise Handled(place)
    if verb == "unhandled":
        raise Unhandled(place)
    return {"stopped": place}, 202


def add_hooks(scaffold, name, events):
    """A URL value preprocessor, two before- and after-request hooks and a teardown."""

    @scaffold.url_value_preprocessor
    def values(endpoint, values):
        events.append(("url", name, endpoint, None if values is None else sorted(values)))
        if name == "child" and "lang" in values:  # not there when called a second time
            g.lang = values.pop("lang")

    @scaffold.before_request
    def before_1():
        events.append(("before", name, 1))
        return trip(f"{name}.before")

    @scaffold.before_request
    def before_2():
        events.append(("before", name, 2))

    @scaffold.after_request
    def after_1(response):
        events.append(("after", name, 1, status(response)))
        trip(f"{name}.after")
        return response

    @scaffold.after_request
    def after_2(response):
        events.append(("after", name, 2, status(response)))
        return response

    @scaffold.teardown_request
    def teardown(exc):
        events.append(("teardown", name, describe(exc)))


def build(cls, events, **config):
    """An app of `cls` with hooks on itself, on a blueprint and on a blueprint inside that."""
    app = cls(__name__)
    app.config.update({"PROPAGATE_EXCEPTIONS": False, **config})
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    child = Blueprint("child", __name__, url_prefix="/child")
    for scaffold, name in ((app, "app"), (parent, "parent"), (child, "child")):
        add_hooks(scaffold, name, events)

    # The parent's app-wide hooks join the app's own, after them.
    @parent.app_url_value_preprocessor
    def app_values(endpoint, values):
        events.append(("url", "parent/app", endpoint, None if values is None else sorted(values)))

    @parent.before_app_request
    def app_before():
        events.append(("before", "parent/app", 1))

    @parent.after_app_request
    def app_after(response):
        events.append(("after", "parent/app", 1, status(response)))
        return response

    @parent.teardown_app_request
    def app_teardown(exc):
        events.append(("teardown", "parent/app", describe(exc)))

    @app.teardown_appcontext
    def teardown_app_1(exc):
        events.append(("teardown_appcontext", 1, describe(exc)))

    @app.teardown_appcontext
    def teardown_app_2(exc):
        events.append(("teardown_appcontext", 2, describe(exc)))

    @app.errorhandler(Handled)
    def handled(e):
        events.append(("errorhandler", describe(e)))
        return {"handled": str(e)}, 418

    @app.get("/top")
    def top():
        events.append(("view", "top", request.endpoint, request.blueprint, request.blueprints))
        return {"top": True}

    @app.get("/g")
    def read_g():
        events.append(("view", "g", g.get("outer")))
        g.inner = "set by the view"
        return {"g": True}

    @parent.get("/list/")
    def listing():
        events.append(("view", "list", request.endpoint, request.blueprint, request.blueprints))
        return Response("[]", mimetype="application/json")

    @child.get("/items/<int:n>/<lang>")
    def item(n):
        events.append(("view", n, request.endpoint, request.blueprint, request.blueprints, g.lang))

        @after_this_request
        def first(response):
            events.append(("after_this_request", 1, status(response)))
            return response

        @after_this_request
        def second(response):
            events.append(("after_this_request", 2, status(response)))
            return response

        trip("view")
        return {"n": n}

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    return app


def recorder(name, events):
    def receiver(sender, **kwargs):
        summary = {
            key: status(value) if key == "response" else describe(value)
            for key, value in kwargs.items()
        }
        events.append(("signal", name, summary))

    return receiver


def connect_all(stack, app, events):
    """Record every request-cycle signal `app` sends, until `stack` closes."""
    for signal in SIGNALS:
        stack.enter_context(
            signal.connected_to(recorder(signal.name.replace("-", "_"), events), app)
        )


def run(cls, method, path, *, signals=False, **config):
    """One request to a fresh app of `cls`: what the client saw, and the events in order."""
    events = []
    app = build(cls, events, **config)
    with ExitStack() as stack:
        if signals:
            connect_all(stack, app, events)
        response = app.test_client().open(path, method=method)
    return outcome(response), events


def signal_names(events):
    return [event[1] for event in events if event[0] == "signal"]


def teardowns(events):
    return [event for event in events if event[0].startswith("teardown")]


def after_hooks(status):
    """The after-request hooks a child view's request runs, innermost first, all seeing `status`."""
    return [
        ("after", "child", 2, status),
        ("after", "child", 1, status),
        ("after", "parent", 2, status),
        ("after", "parent", 1, status),
        ("after", "parent/app", 1, status),
        ("after", "app", 2, status),
        ("after", "app", 1, status),
    ]


CHILD_EVENTS = [
    ("url", "app", "parent.child.item", ["lang", "n"]),
    ("url", "parent/app", "parent.child.item", ["lang", "n"]),
    ("url", "parent", "parent.child.item", ["lang", "n"]),
    ("url", "child", "parent.child.item", ["lang", "n"]),
    ("before", "app", 1),
    ("before", "app", 2),
    ("before", "parent/app", 1),
    ("before", "parent", 1),
    ("before", "parent", 2),
    ("before", "child", 1),
    ("before", "child", 2),
    ("view", 5, "parent.child.item", "parent.child", ["parent.child", "parent"], "en"),
    ("after_this_request", 1, 200),
    ("after_this_request", 2, 200),
    *after_hooks(200),
    ("teardown", "child", None),
    ("teardown", "parent", None),
    ("teardown", "parent/app", None),
    ("teardown", "app", None),
    ("teardown_appcontext", 2, None),
    ("teardown_appcontext", 1, None),
]


# The whole cycle, request by request -------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), REQUESTS.values(), ids=REQUESTS.keys())
def test_cycle(method, path):
    """With no receivers connected, hooks, views and answers come as Flask's do."""
    assert not [signal for signal in SIGNALS if signal.receivers]

    parity(lambda cls: run(cls, method, path))


@pytest.mark.parametrize(("method", "path"), REQUESTS.values(), ids=REQUESTS.keys())
def test_cycle_with_signals(method, path):
    """With every signal received, signals interleave with the hooks as Flask's do."""
    _, events = parity(lambda cls: run(cls, method, path, signals=True))

    assert signal_names(events)[:2] == ["appcontext_pushed", "request_started"]
    assert signal_names(events)[-3:] == [
        "request_tearing_down",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]


# Hook order ---------------------------------------------------------------------------------


def test_hook_order():
    """Preprocessors and before hooks run app first, after hooks and teardowns app last."""
    seen, events = parity(lambda cls: run(cls, "GET", CHILD))

    assert seen == (200, [], None)
    assert events == CHILD_EVENTS


def app_wide_events(endpoint, values, view, code):
    """The events of a request no blueprint handles: only the app-wide hooks run."""
    return [
        ("url", "app", endpoint, values),
        ("url", "parent/app", endpoint, values),
        ("before", "app", 1),
        ("before", "app", 2),
        ("before", "parent/app", 1),
        *view,
        ("after", "parent/app", 1, code),
        ("after", "app", 2, code),
        ("after", "app", 1, code),
        ("teardown", "parent/app", None),
        ("teardown", "app", None),
        *CHILD_EVENTS[-2:],
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/top", app_wide_events("top", [], [("view", "top", "top", None, [])], 200)),
        ("/nowhere", app_wide_events(None, None, [], 404)),
        ("/parent/nowhere", app_wide_events(None, None, [], 404)),
    ],
)
def test_hook_order_outside_blueprints(path, expected):
    """An app view or an unmatched URL, even under a blueprint's prefix: app-wide hooks only."""
    _, events = parity(lambda cls: run(cls, "GET", path))

    assert events == expected


def test_before_request_short_circuits():
    """A before hook's value is the answer: later before hooks and the view are skipped."""
    seen, events = parity(lambda cls: run(cls, "GET", CHILD + "?act=stop@parent.before"))

    expected = [
        *CHILD_EVENTS[:8],  # up to and including the parent's first before hook
        *after_hooks(202),
        *CHILD_EVENTS[-6:],
    ]
    assert seen == (202, [], None)
    assert events == expected


# Errors and teardown ---------------------------------------------------------------------


@pytest.mark.parametrize("place", ["view", "child.before"])
def test_handled_errors_are_not_passed_to_teardown(place):
    """An error an error handler answered reaches no teardown, and sends no exception signal."""
    seen, events = parity(lambda cls: run(cls, "GET", f"{CHILD}?act=handled@{place}", signals=True))

    assert seen == (418, [], None)
    assert ("errorhandler", f"Handled: {place}") in events
    assert {event[-1] for event in teardowns(events)} == {None}
    assert "got_request_exception" not in signal_names(events)


@pytest.mark.parametrize("place", ["view", "app.before"])
def test_unhandled_errors_are_passed_to_teardown(place):
    """An unhandled error is a 500 after the after hooks, and every teardown receives it."""
    seen, events = parity(
        lambda cls: run(cls, "GET", f"{CHILD}?act=unhandled@{place}", signals=True)
    )

    error = f"Unhandled: {place}"
    assert seen == (500, [], None)
    assert {event[-1] for event in teardowns(events)} == {error}
    assert len(teardowns(events)) == 6
    assert ("signal", "got_request_exception", {"exception": error}) in events
    assert ("signal", "request_finished", {"response": 500}) in events
    assert ("signal", "request_tearing_down", {"exc": error}) in events
    assert ("signal", "appcontext_tearing_down", {"exc": error}) in events
    assert ("after", "app", 1, 500) in events


def test_after_hook_error_finalizes_again():
    """An after hook that raises: a 500, finalized by running the hooks again, not signalled."""
    seen, events = parity(
        lambda cls: run(cls, "GET", CHILD + "?act=unhandled@parent.after", signals=True)
    )

    hooks = [
        ("after_this_request", 1),
        ("after_this_request", 2),
        ("after", "child", 2),
        ("after", "child", 1),
        ("after", "parent", 2),
        ("after", "parent", 1),
    ]
    assert seen == (500, [], None)
    assert [event for event in events if event[0].startswith("after")] == [
        *[(*hook, 200) for hook in hooks],
        *[(*hook, 500) for hook in hooks],
    ]
    assert "request_finished" not in signal_names(events)
    assert {event[-1] for event in teardowns(events)} == {"Unhandled: parent.after"}


def test_propagated_errors_reach_the_caller_and_teardown():
    """With PROPAGATE_EXCEPTIONS the error leaves the app, after the teardowns saw it."""

    def scenario(cls):
        events = []
        app = build(cls, events, PROPAGATE_EXCEPTIONS=True)
        with ExitStack() as stack:
            connect_all(stack, app, events)
            with pytest.raises(Unhandled) as raised:
                app.test_client().get(CHILD + "?act=unhandled@view")
        return describe(raised.value), events

    error, events = parity(scenario)

    assert error == "Unhandled: view"
    assert not [event for event in events if event[0] in ("after", "after_this_request")]
    assert {event[-1] for event in teardowns(events)} == {error}
    assert signal_names(events) == [
        "appcontext_pushed",
        "request_started",
        "got_request_exception",
        "request_tearing_down",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]


# Signals -----------------------------------------------------------------------------------


def test_signal_order():
    """Each signal comes at its place among the hooks: started first, popped last."""
    _, events = parity(lambda cls: run(cls, "GET", CHILD, signals=True))

    expected = [
        ("signal", "appcontext_pushed", {}),
        ("signal", "request_started", {}),
        *CHILD_EVENTS[:21],  # up to and including the app's last after hook
        ("signal", "request_finished", {"response": 200}),
        *CHILD_EVENTS[21:25],  # the request's teardowns
        ("signal", "request_tearing_down", {"exc": None}),
        *CHILD_EVENTS[25:],  # the app context's teardowns
        ("signal", "appcontext_tearing_down", {"exc": None}),
        ("signal", "appcontext_popped", {}),
    ]
    assert events == expected


def test_request_finished_gets_the_final_response():
    """request_finished receives the object the last after hook returned, not the view's."""

    def scenario(cls):
        events = []
        replaced = []
        app = cls(__name__)

        @app.get("/")
        def index():
            return {"view": True}

        @app.after_request
        def replace(response):
            replaced.append(Response("{}", status=201, mimetype="application/json"))
            return replaced[-1]

        def finished(sender, response):
            events.append((response is replaced[-1], response.status_code))

        with request_finished.connected_to(finished, app):
            code = app.test_client().get("/").status_code
        return code, events

    assert parity(scenario) == (201, [(True, 201)])


def test_receivers_of_other_senders():
    """Receivers connected to another app are not called; those connected to any sender are."""

    def scenario(cls):
        events = []
        app = build(cls, events)
        other = cls(__name__)
        with ExitStack() as stack:
            for signal in SIGNALS:
                stack.enter_context(signal.connected_to(recorder("other", events), other))
            anyone = recorder("any", events)
            request_started.connect(anyone)
            request_tearing_down.connect(anyone)
            try:
                app.test_client().get(CHILD)
            finally:
                request_started.disconnect(anyone)
                request_tearing_down.disconnect(anyone)
        return events

    events = parity(scenario)

    assert [event for event in events if event[0] == "signal"] == [
        ("signal", "any", {}),
        ("signal", "any", {"exc": None}),
    ]


@pytest.mark.parametrize(
    "signal",
    [request_started, request_finished, request_tearing_down, appcontext_tearing_down],
    ids=lambda signal: signal.name,
)
def test_coroutine_receivers_go_through_ensure_sync(signal):
    """A coroutine receiver is handed to the app's ensure_sync, as Flask's sends do."""

    def scenario(cls):
        events = []
        app = build(cls, events)

        async def receiver(sender, **kwargs):
            events.append(("async receiver", sorted(kwargs)))

        got = recorder("got_request_exception", events)
        with (
            signal.connected_to(receiver, app),
            got_request_exception.connected_to(got, app),
        ):
            try:
                seen = outcome(app.test_client().get(CHILD))
            except Exception as exc:  # the teardown signals raise out of the request
                seen = describe(exc)
        return seen, events

    result = parity(scenario)

    # Without asgiref, ensure_sync refuses the coroutine; blinker alone would say this.
    assert "Cannot send to a coroutine function" not in repr(result)


# Routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/nowhere", (404, [], None)),
        ("DELETE", "/parent/list/", (405, ["GET", "HEAD", "OPTIONS"], None)),
        ("POST", CHILD, (405, ["GET", "HEAD", "OPTIONS"], None)),
        ("GET", "/parent/list", (308, [], "http://localhost/parent/list/")),
        ("OPTIONS", "/parent/list/", (None, ["GET", "HEAD", "OPTIONS"], None)),
    ],
)
def test_routing_answers(method, path, expected):
    """Routing errors, slash redirects and automatic OPTIONS go through the hooks alike."""
    seen, events = parity(lambda cls: run(cls, method, path, signals=True))

    assert seen == expected
    assert not [event for event in events if event[0] == "view"]
    assert ("after", "app", 1, expected[0]) in events


def test_automatic_options_statuses():
    """The one routing difference, documented: Flask answers OPTIONS 200, ApiFlask 204."""
    statuses = [
        build(cls, []).test_client().options(CHILD).status_code for cls in (Flask, *API_CLASSES)
    ]

    assert statuses == [200, 204, 204]


# The view and its request -----------------------------------------------------------------


def test_view_args_replaced_by_hooks_reach_the_view():
    """Preprocessors and before hooks may replace request.view_args; the view gets the last."""

    def scenario(cls):
        events = []
        app = build(cls, events)

        @app.url_value_preprocessor
        def replace(endpoint, values):
            if values is not None:
                request.view_args = {"n": values["n"] + 1, "lang": "fr"}

        @app.before_request
        def replace_again():
            if request.view_args:
                request.view_args = {**request.view_args, "n": request.view_args["n"] * 10}

        app.test_client().get(CHILD)
        return [event for event in events if event[0] in ("url", "view")]

    events = parity(scenario)

    assert events[-1] == (
        "view",
        60,
        "parent.child.item",
        "parent.child",
        ["parent.child", "parent"],
        "fr",
    )


HOOK_KINDS = ("url_value_preprocessor", "before_request", "after_request", "teardown_request")


@pytest.mark.parametrize("kind", HOOK_KINDS)
@pytest.mark.parametrize("on", ["app", "blueprint"])
def test_a_kind_of_hook_registered_alone_still_runs(kind, on):
    """ApiFlask skips a kind of hook no one registered; one registered alone must run."""

    def scenario(cls):
        events = []
        app = cls(__name__)
        bp = Blueprint("bp", __name__)

        def hook(*args):
            events.append((kind, request.endpoint))
            return args[0] if kind == "after_request" else None

        getattr(app if on == "app" else bp, kind)(hook)

        @bp.get("/bp")
        def view():
            events.append(("view", request.endpoint))
            return {"ok": True}

        app.register_blueprint(bp)
        code = app.test_client().get("/bp").status_code
        return code, events

    code, events = parity(scenario)

    assert code == 200
    assert (kind, "bp.view") in events


def test_direct_calls_in_a_request_context():
    """Called by hand in a test request context, each method does what Flask's does."""

    def scenario(cls):
        events = []
        app = build(cls, events)
        with app.test_request_context(CHILD):
            events.append(("preprocess", app.preprocess_request()))
            events.append(("dispatch", app.dispatch_request()))
            response = app.process_response(app.response_class())
            events.append(("process", response.status_code))
            try:
                raise KeyError("active")
            except KeyError:
                app.do_teardown_request()
                app.do_teardown_request(None)
                app.do_teardown_appcontext()
                app.do_teardown_appcontext(None)
            events.append(("full", app.full_dispatch_request().status_code))
            events.append(("finalize", app.finalize_request(({"a": 1}, 203)).status_code))
        with app.test_request_context("/nowhere"), pytest.raises(NotFound) as raised:
            app.dispatch_request()
        events.append(("dispatch", describe(raised.value)))
        return events

    events = parity(scenario)

    assert ("preprocess", None) in events
    assert ("dispatch", {"n": 5}) in events
    assert ("teardown", "app", "KeyError: 'active'") in events
    assert ("teardown_appcontext", 1, "KeyError: 'active'") in events
    assert ("teardown", "app", None) in events
    assert ("finalize", 203) in events
    assert events[-1][1].startswith("NotFound: 404 Not Found")


@pytest.mark.parametrize(
    "call",
    [
        lambda app: app.preprocess_request(),
        lambda app: app.dispatch_request(),
        lambda app: app.process_response(app.response_class()),
        lambda app: app.finalize_request({"a": 1}),
        lambda app: app.full_dispatch_request(),
        lambda app: app.do_teardown_request(None),
    ],
)
@pytest.mark.parametrize("hooks", [True, False], ids=["with hooks", "without hooks"])
def test_outside_a_request_each_method_says_so(call, hooks):
    """Called with no request, each method fails as Flask's does, never with LookupError."""

    def scenario(cls):
        app = build(cls, []) if hooks else cls(__name__)
        with app.app_context(), pytest.raises(RuntimeError) as raised:
            call(app)
        return str(raised.value).splitlines()[0]  # Flask adds a paragraph of advice

    assert parity(scenario) == "Working outside of request context."


def test_a_request_context_pushed_twice_tears_down_its_app_context_as_flask_does():
    """RequestContext.pop hands Flask's own "not passed" on to the app context it pushed."""

    def scenario(cls):
        app, other = cls(__name__), Flask("other")
        seen = []

        @app.teardown_appcontext
        def record(exc):
            seen.append(exc)

        ctx = app.test_request_context("/")
        ctx.push()
        with other.app_context():
            ctx.push()  # another app's context is current, so this pushes ours again
            ctx.pop()
        ctx.pop()
        return seen

    assert parity(scenario) == [None, None]


def test_nested_requests_see_their_own_request():
    """A view that sends requests to its own app: each hook runs for its own request."""

    def scenario(cls):
        events = []
        app = build(cls, events)

        @app.get("/relay")
        def relay():
            client = app.test_client()
            codes = [client.get(CHILD + act).status_code for act in ("", "?act=unhandled@view")]
            events.append(("view", "relay", request.path, request.blueprints, codes))
            return {"codes": codes}

        with ExitStack() as stack:
            connect_all(stack, app, events)
            code = app.test_client().get("/relay").status_code
        return code, events

    code, events = parity(scenario)

    relayed = events.index(("view", "relay", "/relay", [], [200, 500]))
    assert code == 200
    inner = [event for event in events[:relayed] if event[:2] == ("teardown", "child")]
    assert inner == [("teardown", "child", None), ("teardown", "child", "Unhandled: view")]
    # The outer request's own (app-wide) hooks, and the shared app context torn down once.
    assert events[relayed + 1 :] == [
        ("after", "parent/app", 1, 200),
        ("after", "app", 2, 200),
        ("after", "app", 1, 200),
        ("signal", "request_finished", {"response": 200}),
        ("teardown", "parent/app", None),
        ("teardown", "app", None),
        ("signal", "request_tearing_down", {"exc": None}),
        *CHILD_EVENTS[-2:],
        ("signal", "appcontext_tearing_down", {"exc": None}),
        ("signal", "appcontext_popped", {}),
    ]
    assert events.count(CHILD_EVENTS[-1]) == 1


# Test clients and contexts --------------------------------------------------------------------


def test_client_as_a_context_manager():
    """`with client:` keeps each request's context after the call, until the next or the end.

    Flask 3.1 tears a kept request down twice: as the request ends, and again when the
    client pops the context it re-pushed, at the next request or at the end of `with`.
    """

    def scenario(cls):
        events = []
        app = build(cls, events)
        with app.test_client() as client:
            client.get(CHILD)
            events.append(("kept", request.path, request.endpoint, g.lang))
            client.get("/top")
            events.append(("kept", request.path, request.endpoint))
        events.append(("closed", has_request_context(), has_app_context()))
        return [event for event in events if not event[0].startswith(("url", "before", "after"))]

    events = parity(scenario)

    child_teardowns = [event for event in CHILD_EVENTS if event[0].startswith("teardown")]
    top_teardowns = app_wide_events("top", [], [], 200)[-4:]
    assert events == [
        CHILD_EVENTS[11],  # the child view
        *child_teardowns,
        ("kept", CHILD, "parent.child.item", "en"),
        *child_teardowns,
        ("view", "top", "top", None, []),
        *top_teardowns,
        ("kept", "/top", "top"),
        *top_teardowns,
        ("closed", False, False),
    ]


def test_requests_share_a_pushed_app_context():
    """Requests made in the app's own app context share its `g`; another app's does not count."""

    def scenario(cls):
        events = []
        app = build(cls, events)
        client = app.test_client()
        with app.app_context():
            g.outer = "set outside"
            client.get("/g")
            events.append(("outside sees", g.get("inner")))
        events.append(("popped",))
        with cls(__name__).app_context():
            g.outer = "another app's"
            client.get("/g")
            events.append(("outside sees", g.get("inner")))
        return [event for event in events if not event[0].startswith(("url", "before", "after"))]

    events = parity(scenario)

    request_teardowns = [("teardown", "parent/app", None), ("teardown", "app", None)]
    assert (
        events
        == [
            ("view", "g", "set outside"),
            *request_teardowns,
            ("outside sees", "set by the view"),
            *CHILD_EVENTS[-2:],  # the shared app context's teardowns, as it is popped
            ("popped",),
            ("view", "g", None),
            *request_teardowns,
            *CHILD_EVENTS[-2:],  # the request's own app context
            ("outside sees", None),
        ]
    )


# Extension points ---------------------------------------------------------------------------


def test_subclass_overrides_still_run():
    """A subclass overriding preprocess_request and process_response still gets called."""

    def scenario(cls):
        events = []

        class Sub(cls):
            def preprocess_request(self):
                events.append(("sub preprocess", request.endpoint))
                rv = super().preprocess_request()
                events.append(("sub preprocessed", rv))
                return rv

            def process_response(self, response):
                events.append(("sub process", status(response)))
                response = super().process_response(response)
                response.headers["X-Sub"] = "1"
                return response

        app = build(Sub, events)
        client = app.test_client()
        seen = [
            (outcome(response), response.headers.get("X-Sub"))
            for response in (client.get(CHILD), client.get(CHILD + "?act=stop@child.before"))
        ]
        return seen, events

    seen, events = parity(scenario)

    assert [header for _, header in seen] == ["1", "1"]
    assert events.count(("sub preprocess", "parent.child.item")) == 2
    assert ("sub preprocessed", ({"stopped": "child.before"}, 202)) in events
    assert events.count(("sub process", 200)) == 1
    assert events.count(("sub process", 202)) == 1


def test_overridden_helpers_are_still_called():
    """The cycle still goes through ensure_sync, make_response and the other overridable steps."""

    def scenario(cls):
        events = []

        class Sub(cls):
            def ensure_sync(self, func):
                events.append(("ensure_sync", func.__name__))
                return super().ensure_sync(func)

            def make_response(self, rv):
                kind = "response" if isinstance(rv, BaseResponse) else type(rv).__name__
                events.append(("make_response", kind))
                return super().make_response(rv)

            def raise_routing_exception(self, request):
                events.append(("raise_routing_exception", type(request.routing_exception).__name__))
                super().raise_routing_exception(request)

            def handle_user_exception(self, e):
                events.append(("handle_user_exception", type(e).__name__))
                return super().handle_user_exception(e)

            def make_default_options_response(self):
                events.append(("make_default_options_response",))
                return super().make_default_options_response()

        app = build(Sub, events)
        client = app.test_client()
        # Not the slash redirect: ApiFlask's own handle_http_exception answers it differently.
        for method, path in [
            ("GET", CHILD),
            ("GET", "/nowhere"),
            ("DELETE", "/parent/list/"),
            ("OPTIONS", CHILD),
            ("GET", CHILD + "?act=handled@view"),
            ("GET", CHILD + "?act=abort@view"),
        ]:
            client.open(path, method=method)
        # ApiFlask's own last after-request hook, which adds the standard headers.
        ours = ("ensure_sync", "finish_response")
        return [
            event
            for event in events
            if not event[0].startswith(("url", "before", "after")) and event != ours
        ]

    events = parity(scenario)

    assert ("raise_routing_exception", "NotFound") in events
    assert ("raise_routing_exception", "MethodNotAllowed") in events
    assert ("make_default_options_response",) in events
    assert ("handle_user_exception", "Handled") in events
    assert ("ensure_sync", "item") in events
    assert ("ensure_sync", "teardown_app_1") in events


def test_late_changes_to_hooks_and_views_are_used():
    """Hooks and views changed in the app's dicts after a first request are used by the next."""

    def scenario(cls):
        events = []
        app = build(cls, events)
        client = app.test_client()
        client.get("/top")
        events.clear()

        def late(kind):
            def hook(*args):
                events.append(("late", kind))
                return args[0] if kind == "after" else None

            return hook

        app.view_functions["top"] = lambda: (events.append(("late view",)), {"late": True})[1]
        for name in (None, "parent.child"):
            app.url_value_preprocessors.setdefault(name, []).append(late(f"url {name}"))
            app.before_request_funcs.setdefault(name, []).append(late(f"before {name}"))
            app.after_request_funcs.setdefault(name, []).append(late("after"))
            app.teardown_request_funcs.setdefault(name, []).append(late(f"teardown {name}"))
        app.teardown_appcontext_funcs.append(late("teardown_appcontext"))
        codes = [client.get(path).status_code for path in ("/top", CHILD)]
        return codes, events

    codes, events = parity(scenario)

    assert codes == [200, 200]
    assert ("late view",) in events
    assert events.count(("late", "before parent.child")) == 1
    assert events.count(("late", "before None")) == 2
    assert events.count(("late", "after")) == 3
    assert events.count(("late", "teardown_appcontext")) == 2


def test_first_request_closes_setup():
    """After a first request, setup methods refuse, as Flask's do."""

    def scenario(cls):
        app = build(cls, [])
        app.before_request(lambda: None)  # still open
        app.test_client().get("/nowhere")
        with pytest.raises(AssertionError, match="already handled its first request") as raised:
            app.before_request(lambda: None)
        return str(raised.value)

    parity(scenario)


class _Session(dict, SessionMixin):
    pass


class RecordingSessions(SessionInterface):
    """Opens a session (or none, so Flask's null session) and records each save."""

    def __init__(self, events, opens):
        self.events = events
        self.opens = opens

    def open_session(self, app, request):
        self.events.append(("open_session",))
        return _Session() if self.opens else None

    def save_session(self, app, session, response):
        self.events.append(("save_session", type(session).__name__, status(response)))


@pytest.mark.parametrize("opens", [True, False], ids=["session", "null session"])
def test_custom_session_interface(opens):
    """A session interface set on the app is saved after the after hooks; a null one is not."""

    def scenario(cls):
        events = []
        app = build(cls, events)
        app.session_interface = RecordingSessions(events, opens)
        with ExitStack() as stack:
            connect_all(stack, app, events)
            app.test_client().get(CHILD)
        return events

    events = parity(scenario)

    saves = [event for event in events if event[0] == "save_session"]
    assert saves == ([("save_session", "_Session", 200)] if opens else [])
    if opens:
        saved = events.index(saves[0])
        assert events[saved - 1] == ("after", "app", 1, 200)
        assert events[saved + 1][:2] == ("signal", "request_finished")
