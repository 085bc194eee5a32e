"""The per-request fast paths in myapp.core, held to the slow paths they replace.

Each shortcut (unchecked header appends, uncopied WSGI headers, reused Headers in
json_response, orjson in dump_json, the ensure_sync cache, plain json pointer
tokens, direct page-link formatting, URL adapters bound from cached host names)
must be indistinguishable from what Werkzeug, Flask, urllib or json would do.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import inspect
import io
import json
import math
import weakref
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

import pytest
from flask import Flask, Request, after_this_request, request
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.test import create_environ
from werkzeug.wrappers import Response

from myapp.core import ApiResult, dataschema
from myapp.core.errors import IncompleteBody
from myapp.core.fastpath.werkzeug_routing import StaticRouteAdapter, create_url_adapter
from myapp.core.fastpath.werkzeug_wrappers import FastRequest, FastResponse, append_fields
from myapp.core.pagination import url_maker, url_template
from myapp.core.request import api_request
from myapp.core.response import ApiResponse, _json_default, dump_json
from myapp.core.routing import ApiMap
from myapp.core.validation import json_pointer
from tests.helpers import FastApiFlask, assert_standard_headers, assert_success

#: The stock response class, and the fast path's: both must build the same responses.
RESPONSE_CLASSES = pytest.mark.parametrize(
    "response_class", [ApiResponse, FastResponse], ids=["stock", "fast"]
)
UNICODE_PATH = "/v1/ünïcode"
ENCODED_PATH = "/v1/%C3%BCn%C3%AFcode"


@pytest.fixture
def app(make_app):
    """The service's app with the fast path on, whatever MYAPP_FAST_PATH says."""
    built = make_app(FAST_PATH=True)
    if not {"flask", "werkzeug"} <= built.fast_path:
        pytest.skip("the installed Flask or Werkzeug is outside the fast path's range")
    return built


# The app fixture is only read inside each example, never changed by one.
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# append_fields ---------------------------------------------------------------------------

FIELD_LISTS = [
    [("X-One", "1")],
    [("X-Dup", "a"), ("x-dup", "b"), ("X-DUP", "c")],
    [("Content-Type", "application/json"), ("Content-Length", "12"), ("X-Request-ID", "abc")],
    [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), ("Vary", "")],
]


def filled_pair(fields):
    """The same starting Headers twice: `fields` added to one, appended unchecked to the other."""
    start = [("X-Existing", "kept"), ("X-Dup", "first")]
    added, appended = Headers(start), Headers(start)
    for name, value in fields:
        added.add(name, value)
    append_fields(appended, fields)
    return added, appended


@pytest.mark.parametrize("fields", FIELD_LISTS)
def test_append_fields_reads_like_add(fields):
    """Fields appended unchecked are seen by every read of the public Headers API like add()."""
    added, appended = filled_pair(fields)

    assert len(appended) == len(added)
    assert list(appended) == list(added)
    assert appended.to_wsgi_list() == added.to_wsgi_list()
    assert appended == added
    for name, _ in [*fields, ("X-Existing", ""), ("X-Missing", "")]:
        for spelling in (name, name.lower(), name.upper()):
            assert (spelling in appended) == (spelling in added)
            assert appended.get(spelling) == added.get(spelling)
            assert appended.getlist(spelling) == added.getlist(spelling)


@pytest.mark.parametrize("fields", FIELD_LISTS)
def test_append_fields_are_replaced_and_removed_like_add(fields):
    """set() and del replace or drop appended fields exactly as they do added ones."""
    added, appended = filled_pair(fields)

    for headers in (added, appended):
        name = fields[0][0]
        headers.set(name.swapcase(), "replaced")
        del headers[fields[-1][0].lower()]
        headers.add("X-After", "1")

    assert appended.to_wsgi_list() == added.to_wsgi_list()
    assert appended.getlist(fields[0][0]) == added.getlist(fields[0][0])


# FastResponse.get_wsgi_headers -----------------------------------------------------------


def _list_without_length(cls):
    response = cls(["a", "b"], mimetype="application/json")
    del response.headers["Content-Length"]
    return response


def _streamed(cls):
    return cls((chunk for chunk in (b"a", b"bc")), mimetype="application/json")


def _not_modified(cls):
    response = cls(b"body", 304, mimetype="application/json")
    response.headers["Content-Length"] = "4"
    response.headers["ETag"] = '"v1"'
    return response


RESPONSES = {
    "200 with a body": lambda cls: cls(b'{"a":1}', 200, mimetype="application/json"),
    "200 with Content-Length and extra fields": lambda cls: cls(
        b"{}", 200, {"Content-Length": "2", "X-A": "1", "x-a": "2"}, mimetype="application/json"
    ),
    "201 with a unicode Location": lambda cls: cls(
        b"{}", 201, {"Location": UNICODE_PATH}, mimetype="application/json"
    ),
    "201 with a lower-case location": lambda cls: cls(
        b"{}", 201, {"location": UNICODE_PATH + "?q=ä b"}, mimetype="application/json"
    ),
    "200 with a unicode Content-Location": lambda cls: cls(
        b"{}", 200, {"Content-Location": UNICODE_PATH}, mimetype="application/json"
    ),
    "204 with Content-Type and Content-Length": lambda cls: cls(
        status=204, headers={"Content-Length": "0"}, mimetype="application/json"
    ),
    "304 with Content-Type and Content-Length": _not_modified,
    "103 early hints": lambda cls: cls(
        status=103, headers={"Link": "</a.css>", "Content-Length": "0"}, mimetype="text/plain"
    ),
    "100 continue with a body": lambda cls: cls(b"x", 100, mimetype="application/json"),
    "list body without Content-Length": _list_without_length,
    "streamed generator body": _streamed,
    "500 with a body": lambda cls: cls(b"{}", 500, mimetype="application/problem+json"),
    "list of text and bytes chunks": lambda cls: cls(
        ["{", b'"a":', "1}"], 200, mimetype="application/json"
    ),
}


@pytest.mark.parametrize("build", RESPONSES.values(), ids=RESPONSES.keys())
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_api_response_sends_what_werkzeug_sends(build, method):
    """FastResponse's uncopied-headers shortcut never changes the status, fields or body sent."""
    environ = create_environ(method=method)

    ours_iter, ours_status, ours_headers = build(FastResponse).get_wsgi_response(environ)
    theirs_iter, theirs_status, theirs_headers = build(Response).get_wsgi_response(environ)

    assert ours_status == theirs_status
    assert ours_headers == theirs_headers
    assert b"".join(ours_iter) == b"".join(theirs_iter)


@pytest.mark.parametrize("build", RESPONSES.values(), ids=RESPONSES.keys())
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_api_response_runs_close_callbacks_as_werkzeug_does(build, method):
    """A `call_on_close` callback runs once the server closes the body, shortcut or not."""
    environ = create_environ(method=method)
    calls = {}
    for cls in (FastResponse, Response):
        response = build(cls)
        response.call_on_close(lambda cls=cls: calls.setdefault(cls, []).append("closed"))
        body = response.get_wsgi_response(environ)[0]
        b"".join(body)
        assert cls not in calls
        getattr(body, "close", lambda: None)()

    assert calls == {FastResponse: ["closed"], Response: ["closed"]}


def test_api_response_hands_a_plain_json_body_over_as_it_is():
    """The body shortcut is taken where it is safe, so the comparisons above test it."""
    response = FastResponse.for_document({"a": 1}, 200)

    assert response.get_app_iter(create_environ()) is response.response
    assert response.get_app_iter(create_environ(method="HEAD")) is not response.response


def test_api_response_rewrites_unicode_location_as_a_uri():
    """A non-ASCII Location is percent-encoded rather than sent raw by the shortcut."""
    response = FastResponse(b"{}", 201, {"Location": UNICODE_PATH})

    headers = dict(response.get_wsgi_response(create_environ())[2])

    assert headers["Location"] == ENCODED_PATH


def test_api_response_skips_the_copy_for_a_plain_json_answer():
    """The shortcut is taken where it is safe, so the comparisons above test it, not super()."""
    response = FastResponse.for_document({"a": 1}, 200)

    assert response.get_wsgi_headers(create_environ()) is response.headers


def test_unicode_location_is_percent_encoded_on_the_wire(app):
    """A view's unicode Location header reaches the client as an ASCII URI."""

    @app.post("/things")
    def create_thing():
        return ApiResult({"id": 7}, status=201, headers={"Location": UNICODE_PATH})

    response = app.test_client().post("/things")

    assert assert_success(response, 201) == {"id": 7}
    assert response.headers["Location"] == ENCODED_PATH
    assert response.headers.getlist("Location") == [ENCODED_PATH]


def test_head_sends_get_headers_with_content_length_and_no_body(app):
    """HEAD on a GET route answers GET's Content-Length with an empty body."""

    @app.get("/things")
    def things():
        return ApiResult([1, 2, 3])

    client = app.test_client()
    got = client.get("/things")
    head = client.head("/things")

    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(got.data)) == got.headers["Content-Length"]
    assert head.headers["Content-Type"] == "application/json"
    assert_standard_headers(head)


# ApiResponse.for_document ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"Content-Type": "text/plain", "Content-Length": "999", "X-A": "1"},
        {"content-length": "999", "X-A": "1"},  # any case, and only one of the two
        {"CONTENT-TYPE": "text/plain", "X-A": "1"},
        {"X-A": "1"},  # neither: both are appended
    ],
)
@RESPONSE_CLASSES
def test_json_response_replaces_given_content_type_and_length(fields, response_class):
    """Given headers end up with one correct Content-Type and Content-Length, theirs kept."""
    given = Headers(fields)

    response = response_class.for_document({"a": 1}, 200, given)

    assert response.headers is given
    assert response.headers.getlist("Content-Type") == ["application/json"]
    assert response.headers.getlist("Content-Length") == [str(len(b'{"a":1}'))]
    assert response.headers.getlist("X-A") == ["1"]
    assert response.get_data() == b'{"a":1}'
    wsgi = response.get_wsgi_response(create_environ())[2]
    assert sorted(name.lower() for name, _ in wsgi) == ["content-length", "content-type", "x-a"]


@pytest.mark.parametrize("mimetype", ["application/json", "application/problem+json"])
@RESPONSE_CLASSES
def test_json_response_without_headers_sets_type_and_length(mimetype, response_class):
    """With no headers given, the response gets its type and the body's exact length."""
    response = response_class.for_document({"a": [1, "ü"]}, 201, mimetype=mimetype)
    body = response.get_data()

    assert json.loads(body) == {"a": [1, "ü"]}
    assert response.headers.getlist("Content-Type") == [mimetype]
    assert response.headers.getlist("Content-Length") == [str(len(body))]
    assert len(response.headers) == 2


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("given", [None, {"X-A": "1", "Content-Type": "text/plain"}])
@RESPONSE_CLASSES
def test_json_response_bodiless_statuses(status, given, response_class):
    """204 and 304 carry no body and no Content-Type, whatever headers were given."""
    headers = None if given is None else Headers(given)

    response = response_class.for_document({"a": 1}, status, headers)
    _, _, wsgi = response.get_wsgi_response(create_environ())

    assert response.status_code == status
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert not [name for name, _ in wsgi if name.lower() in ("content-type", "content-length")]
    if given is not None:
        assert response.headers["X-A"] == "1"


# Request.close ---------------------------------------------------------------------------


def test_uploaded_files_are_closed_when_the_request_ends(app):
    """ApiRequest.close skips Werkzeug's walk when no form was parsed, and only then."""
    uploads = []

    @app.post("/upload")
    def upload():
        uploads.extend(request.files.values())
        assert not any(f.stream.closed for f in uploads)
        return {"ok": True}

    @app.post("/json")
    def json_only():
        assert "files" not in request.__dict__
        return {"ok": True}

    client = app.test_client()
    sent = {"a": (io.BytesIO(b"one"), "a.txt"), "b": (io.BytesIO(b"two"), "b.txt")}
    assert client.post("/upload", data=sent).status_code == 200
    assert client.post("/json", json={"x": 1}).status_code == 200

    assert len(uploads) == 2
    assert all(f.stream.closed for f in uploads)


# ensure_sync cache -----------------------------------------------------------------------


def test_after_this_request_runs_once_per_request(app):
    """A per-request callback runs for its own request only, once, every time."""
    calls = []

    @app.get("/hooked")
    def hooked():
        @after_this_request
        def count(response):
            calls.append(response.status_code)
            return response

        return {"ok": True}

    client = app.test_client()
    client.get("/hooked")
    client.get("/hooked")

    assert calls == [200, 200]


def test_ensure_sync_cache_lets_request_callbacks_go(app):
    """The ensure_sync cache does not keep a request's callbacks alive after the request."""
    refs = []

    @app.get("/hooked")
    def hooked():
        def callback(response):
            return response

        refs.append(weakref.ref(callback))
        after_this_request(callback)
        return {"ok": True}

    client = app.test_client()
    client.get("/hooked")  # the view and the app's own hooks enter the cache here
    remembered = inspect.getclosurevars(app.ensure_sync).nonlocals["remembered"]
    before = len(remembered)
    for _ in range(50):
        assert client.get("/hooked").status_code == 200
    gc.collect()

    assert len(refs) == 51
    assert [ref for ref in refs if ref() is not None] == []
    assert len(remembered) - before < 50


class _SlottedCallback:
    """A callable that, like many C-level callables, cannot be weakly referenced."""

    __slots__ = ("calls",)

    def __init__(self):
        self.calls = 0

    def __call__(self, response):
        self.calls += 1
        return response


def test_a_hook_without_weakref_support_still_runs(app):
    """Any callable Flask accepts as a callback still works with the ensure_sync cache."""
    callback = _SlottedCallback()

    @app.get("/hooked")
    def hooked():
        after_this_request(callback)
        return {"ok": True}

    response = app.test_client().get("/hooked")

    assert response.status_code == 200
    assert callback.calls == 1


def test_ensure_sync_still_hands_coroutine_functions_to_async_to_sync(app, monkeypatch):
    """The cache answers "async" for a coroutine function, so Flask's wrapper is still used."""
    monkeypatch.setattr(app, "async_to_sync", lambda func: ("wrapped", func))

    async def hook():
        return "ran"

    def plain():
        return "plain"

    for _ in range(2):  # the second time the answer comes from the cache
        assert app.ensure_sync(hook) == ("wrapped", hook)
        assert app.ensure_sync(plain) is plain


# json_pointer -------------------------------------------------------------------------

FRAGMENT_SAFE = "~!$&'()*+,;=:@?"


def reference_pointer(path):
    return "#" + "".join(
        "/" + quote(str(part).replace("~", "~0").replace("/", "~1"), safe=FRAGMENT_SAFE)
        for part in path
    )


TRICKY_TEXT = st.one_of(
    st.text(alphabet="aZ09_.-~/"),  # nearly plain: one character off the fast path
    st.text(alphabet="aZ09_.-~/%#? &=+:@ü\n\x00é€"),
    st.text(),
)


@PROPERTY
@given(st.lists(TRICKY_TEXT | st.integers(), max_size=6))
def test_json_pointer_matches_the_quoted_reference(path):
    """The plain-token shortcut gives the same pointer as escaping and quoting every token."""
    assert json_pointer(path) == reference_pointer(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([], "#"),
        (["name"], "#/name"),
        (["items", 0, "a.b-c_d"], "#/items/0/a.b-c_d"),
        (["a/b", "m~n"], "#/a~1b/m~0n"),
        (["ü", "a b", "%"], "#/%C3%BC/a%20b/%25"),
        ([""], "#/"),
    ],
)
def test_json_pointer_examples(path, expected):
    """Known pointers, so a shared mistake in the code and the reference would show."""
    assert json_pointer(path) == expected


# url_maker -----------------------------------------------------------------------------

REPLACEABLE = ["page", "per_page", "limit", "cursor", "a b", "x&y", "ü"]
VALUES = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.booleans(),
    st.text(),
    st.text(alphabet=st.sampled_from("&=+ %#?/ü0-")),
)
QUERY_NAMES = st.sampled_from(REPLACEABLE) | st.text(min_size=1, max_size=6)


def multidict_order(query):
    """request.args' order: names by first appearance, each name's values together."""
    grouped = {}
    for name, value in query:
        grouped.setdefault(name, []).append(value)
    return [(name, value) for name, values in grouped.items() for value in values]


def expected_pairs(query, replaced, values):
    """url_maker's rules: kept pairs stay put, a replaced name takes its first slot, new last."""
    pairs = []
    seen = set()
    for name, value in multidict_order(query):
        if name not in replaced:
            pairs.append((name, value))
        elif name not in seen:
            seen.add(name)
            pairs.append((name, values[name]))
    pairs += [(name, values[name]) for name in replaced if name not in seen]
    return pairs


@st.composite
def url_cases(draw):
    replaced = draw(st.lists(st.sampled_from(REPLACEABLE), min_size=1, max_size=3, unique=True))
    values = {name: draw(VALUES) for name in replaced}
    query = draw(st.lists(st.tuples(QUERY_NAMES, st.text()), max_size=5))
    return replaced, values, query


@PROPERTY
@given(url_cases())
def test_url_maker_query_matches_urlencode(app, case):
    """Page links encode values and keep the other parameters exactly like urlencode would."""
    replaced, values, query = case

    with app.test_request_context("/things", query_string=urlencode(query)):
        url = url_maker(*replaced)(**values)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", "/things")
    assert parts.query == urlencode(expected_pairs(query, replaced, values))


@PROPERTY
@given(url_cases(), VALUES)
def test_url_template_builds_what_url_maker_builds(app, case, value):
    """A template fixes all but one replaced parameter; each call fills in that one."""
    replaced, values, query = case
    vary, fixed = replaced[0], {name: values[name] for name in replaced[1:]}

    with app.test_request_context("/things", query_string=urlencode(query)):
        url = url_template(vary, **fixed)
        expected = url_maker(*replaced)

        assert url(value) == expected(**fixed, **{vary: value})
        assert url(values[vary]) == expected(**values)


def test_url_template_takes_a_parameter_named_vary(app):
    with app.test_request_context("/things", query_string="vary=0&page=2"):
        assert url_template("page", vary=1)(3) == "http://localhost/things?vary=1&page=3"


def test_url_maker_examples(app):
    """Known links, so a shared mistake in the code and the reference would show."""
    query = "q=a+b&page=3&tag=%26&page=9"
    with app.test_request_context("/things", query_string=query):
        url = url_maker("page", "per_page")(page=-4, per_page="x y&z=ü")

    assert url == "http://localhost/things?q=a+b&page=-4&tag=%26&per_page=x+y%26z%3D%C3%BC"


def test_url_maker_keeps_order_when_a_replaced_value_is_left_out(app):
    """A replaced parameter left out drops out; the others stay in their own places."""
    with app.test_request_context("/things", query_string="cursor=abc&q=1&limit=5"):
        url = url_maker("limit", "cursor")(limit=10)

    assert urlsplit(url).query == "q=1&limit=10"


# api_request ----------------------------------------------------------------------------


def test_api_request_is_the_request_of_the_innermost_context(app, make_app):
    """api_request() reads Flask's context variable: the same object `request` gives, nested too."""
    other = make_app()
    with app.test_request_context("/outer"):
        assert api_request() is request._get_current_object()
        with other.test_request_context("/inner"):
            assert api_request().path == "/inner"
            assert api_request() is request._get_current_object()
        assert api_request().path == "/outer"


def test_api_request_outside_a_request_is_an_error(app):
    """Outside a request it raises RuntimeError, as the `request` proxy does."""
    with pytest.raises(RuntimeError, match="outside of request context"):
        api_request()
    with app.app_context(), pytest.raises(RuntimeError, match="outside of request context"):
        api_request()


# create_url_adapter ---------------------------------------------------------------------

ADAPTER_FIELDS = (
    "server_name",
    "script_name",
    "subdomain",
    "url_scheme",
    "path_info",
    "default_method",
    "query_args",
    "websocket",
)
# WSGI strings are latin-1 (Werkzeug's Request refuses others in the path and query);
# other text in the Host header is what a broken server might pass.
LATIN1 = st.text(alphabet=st.characters(max_codepoint=255), max_size=12)
HOST_EXAMPLES = [
    "example.com",
    "EXAMPLE.com:8080",
    "[::1]:5000",
    "bücher.example",
    "localhost:80",
    "api.example:443",
    "a b",
    "",
    "xn--bcher-kva.example",
    "ex.com:http",
]


@st.composite
def environs(draw):
    """WSGI environs, with each key the adapter reads present or not."""
    environ = {
        "wsgi.url_scheme": draw(st.sampled_from(["http", "https"])),
        "REQUEST_METHOD": draw(st.sampled_from(["GET", "POST", "OPTIONS"])),
    }
    optional = {
        "HTTP_HOST": st.sampled_from(HOST_EXAMPLES) | LATIN1 | st.text(max_size=12),
        "SERVER_NAME": st.sampled_from(["localhost", "::1", "example.com", "/tmp/sock"]),
        "SERVER_PORT": st.sampled_from(["80", "443", "8080", "", "x"]),
        "SCRIPT_NAME": st.sampled_from(["", "/api", "/api/", "/\xc3\xa9"]) | LATIN1,
        "PATH_INFO": st.sampled_from(["", "/", "/v1/users/", "/caf\xc3\xa9"]) | LATIN1,
        "QUERY_STRING": st.sampled_from(["", "a=1&b=2", "q=%C3%A9"]) | LATIN1,
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            environ[key] = draw(values)
    return environ


def bound(app, bind, environ):
    """What binding does for this environ: the adapter's fields and request.host, or the error."""
    request = app.request_class(environ)
    try:
        adapter = bind(app, request)
    except Exception as exc:  # the same failure, whatever it is, is what must match
        return type(exc)
    return tuple(getattr(adapter, field) for field in ADAPTER_FIELDS), request.host


@PROPERTY
@given(environ=environs())
def test_url_adapter_binds_like_flask(app, environ):
    assert bound(app, create_url_adapter, environ) == bound(app, Flask.create_url_adapter, environ)


def subdomains_under_a_default(app):
    app.subdomain_matching = True
    app.url_map.default_subdomain = "www"


class TrustingRequest(FastRequest):
    """A request class that names its trusted hosts itself, as Werkzeug allows."""

    trusted_hosts = ["example.com"]  # noqa: RUF012 (Werkzeug's attribute is a list)


class MethodMap(Map):
    """A URL map that binds its own way, so Flask must be the one to call it."""

    def bind_to_environ(self, *args, **kwargs):
        adapter = super().bind_to_environ(*args, **kwargs)
        adapter.default_method = "PATCH"
        return adapter


@pytest.mark.parametrize(
    "setup",
    [
        lambda app: app.config.update(SERVER_NAME="example.com:8080"),
        lambda app: app.config.update(TRUSTED_HOSTS=["example.com"]),
        lambda app: setattr(app, "subdomain_matching", True),
        subdomains_under_a_default,
        lambda app: setattr(app.url_map, "host_matching", True),
        lambda app: setattr(app.url_map, "default_subdomain", "www"),
        lambda app: setattr(app, "request_class", TrustingRequest),
        lambda app: setattr(app, "url_map", MethodMap()),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_HOST": "api.example.com:8080"},
        {"HTTP_HOST": "evil.test"},
        {"HTTP_HOST": "example.com", "HTTP_CONNECTION": "Upgrade", "HTTP_UPGRADE": "websocket"},
    ],
)
def test_url_adapter_binds_like_flask_in_every_setup(setup, headers):
    app = FastApiFlask(__name__)
    setup(app)
    environ = create_environ("/v1/items?page=2", base_url="http://example.com:8080")
    environ.update(headers)

    assert bound(app, create_url_adapter, environ) == bound(app, Flask.create_url_adapter, environ)


def test_websocket_upgrade_binds_as_ws():
    app = FastApiFlask(__name__)
    environ = create_environ("/", base_url="https://example.com")
    environ.update(HTTP_CONNECTION="keep-alive, Upgrade", HTTP_UPGRADE="websocket")

    adapter = app.create_url_adapter(app.request_class(environ))

    assert adapter.url_scheme == "wss"


# StaticRouteAdapter ------------------------------------------------------------------------


def routing_app():
    """An app whose routes cover what Werkzeug's matching does beyond a plain lookup."""
    app = FastApiFlask(__name__)
    app.url_map.redirect_defaults = True

    def view(**kwargs):
        return {"ok": True}

    app.add_url_rule("/", "index", view)
    app.add_url_rule("/ping", "ping", view)
    app.add_url_rule("/ping-alias", "ping", view, alias=True)
    app.add_url_rule("/items", "items", view, methods=["GET", "POST"])
    app.add_url_rule("/items/<id:item_id>", "item", view, methods=["GET", "DELETE"])
    app.add_url_rule("/dir/", "dir", view)
    app.add_url_rule("/loose/", "loose", view, strict_slashes=False)
    app.add_url_rule("/pages/", "pages", view, defaults={"page": 1})
    app.add_url_rule("/pages/<int:page>", "pages", view)
    app.add_url_rule("/old", "old", view, redirect_to="/ping")
    app.add_url_rule("/a/b", "ab", view, methods=["PUT"])
    app.add_url_rule("/files/<path:name>", "files", view)
    app.url_map.add(Rule("/any", endpoint="any"))  # no methods: every method matches
    app.view_functions["any"] = view
    return app


ROUTING_PATHS = [
    "/ping", "//ping", "///ping", "/ping/", "ping", "", "/", "//", "/items", "/items/",
    "/items/7", "/items/0", "/items/x", "/dir", "/dir/", "//dir/", "/loose", "/loose/",
    "/pages/", "/pages/1", "/pages/2", "/old", "/a/b", "/a//b", "/a/b/", "/files/x/y",
    "/nowhere", "/PING", "/ping-alias", "/any", "//any",
]  # fmt: skip
ROUTING_METHODS = [
    "GET", "get", "Post", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "BREW", "x",
]  # fmt: skip


def routing_environ(path, method="GET", scheme="http"):
    """An environ with this exact PATH_INFO (a test client would read `//x` as a host)."""
    environ = create_environ("/", base_url=f"{scheme}://example.com/api")
    environ.update(PATH_INFO=path, REQUEST_METHOD=method)
    return environ


def outcome_of(adapter):
    """What matching answers: the rule and its arguments, or the error and what it carries."""
    try:
        rule, args = adapter.match(return_rule=True)
    except HTTPException as exc:
        return (
            type(exc).__name__,
            getattr(exc, "new_url", None),
            getattr(exc, "valid_methods", None),
        )
    return rule.endpoint, rule.rule, dict(args)


def ours(app, environ):
    adapter = app.create_url_adapter(app.request_class(environ))
    assert isinstance(adapter, StaticRouteAdapter)
    return outcome_of(adapter)


@PROPERTY
@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from(ROUTING_PATHS) | LATIN1 | LATIN1.map(lambda text: "/" + text),
            st.sampled_from(ROUTING_METHODS),
            st.sampled_from(["http", "https", "ws"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_static_route_adapter_matches_like_werkzeug(requests):
    """Each request, asked again and again (so from the cache too), matches as Werkzeug does."""
    app = routing_app()
    for path, method, scheme in requests * 2:
        environ = routing_environ(path, method, scheme)
        note(f"{method} {scheme} {path!r}")

        assert ours(app, environ) == outcome_of(app.url_map.bind_to_environ(environ))


@pytest.mark.parametrize("first", ["/", ""])
def test_an_empty_path_is_not_the_root(first):
    """Under a mount point, "" redirects to the root (`/api` to `/api/`) whatever came first."""
    app = routing_app()
    answers = [ours(app, routing_environ(path)) for path in (first, "", "/", "")]

    assert answers[1] == answers[3] == ("RequestRedirect", "http://example.com/api/", None)
    assert answers[2] == ("index", "/", {})


def test_static_route_cache_is_bounded_by_the_routes():
    """Hostile spellings of a path and method share one entry; other routes have none."""
    app = routing_app()
    for slashes in range(1, 50):
        for method in ("GET", "get", "gEt", "HEAD", "head"):
            ours(app, routing_environ("/" * slashes + "ping", method))
    for number in range(1, 50):
        ours(app, routing_environ(f"/items/{number}"))
        ours(app, routing_environ("/any", f"METHOD{number}"))  # a rule without methods

    assert sorted(app.url_map.static_matches) == [("/ping", "GET"), ("/ping", "HEAD")]


def test_static_route_adapter_sees_rules_added_later():
    """Rules added to the map after requests (or a new map) are matched, not a stale rule."""
    app = routing_app()
    client = app.test_client()
    assert client.post("/ping").status_code == 405
    assert client.get("/ping").status_code == 200
    assert app.url_map.static_matches

    app.url_map.add(Rule("/ping", endpoint="ping_post", methods=["POST"]))
    app.view_functions["ping_post"] = lambda: ({"posted": True}, 201)
    # Werkzeug keeps the first rule added for a path and method, so no answer changes
    # here; the cache starts afresh anyway, in case a later Werkzeug reorders rules.
    assert app.url_map.static_matches == {}

    assert client.post("/ping").status_code == 201
    assert client.get("/ping").status_code == 200

    for url_map in (ApiMap(), Map()):  # a plain Map is bound by Werkzeug's own adapter
        url_map.add(Rule("/ping", endpoint="ping_post", methods=["GET"]))
        app.url_map = url_map
        response = client.get("/ping")
        assert response.status_code == 201
        assert response.get_json()["data"] == {"posted": True}


def test_view_args_of_a_cached_static_route_are_fresh_per_request():
    """A hook that writes to one request's view_args leaves the next request's empty."""
    app = routing_app()
    seen = []

    @app.before_request
    def scribble():
        seen.append(dict(request.view_args))
        request.view_args["scribbled"] = True

    def view(**kwargs):
        return {"kwargs": sorted(kwargs)}

    app.view_functions["ping"] = view
    client = app.test_client()
    answers = [client.get("/ping").get_json()["data"] for _ in range(3)]

    assert seen == [{}, {}, {}]
    assert answers == [{"kwargs": ["scribbled"]}] * 3


# ApiRequest's body fields ---------------------------------------------------------------


CONTENT_TYPES = [
    "application/json",
    "Application/JSON; charset=UTF-8",
    'text/plain;a=1;b="x;y"',
    "application/merge-patch+json",
    "",
    ";",
    "multipart/form-data; boundary=--x",
]


@st.composite
def body_environs(draw):
    """Environs with the body's describing keys present or not, well formed or not."""
    environ = create_environ("/v1/items", method="POST")
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        environ.pop(key, None)
    optional = {
        "CONTENT_TYPE": st.sampled_from(CONTENT_TYPES) | LATIN1,
        "CONTENT_LENGTH": st.sampled_from(["0", "17", "-1", "1e3", " 5", "+5", "٣", ""])
        | st.integers(0, 10**20).map(str)
        | LATIN1,
        "HTTP_TRANSFER_ENCODING": st.sampled_from(["chunked", "gzip, chunked", "identity", ""])
        | LATIN1,
    }
    for key, values in optional.items():
        if draw(st.booleans()):
            environ[key] = draw(values)
    return environ


@PROPERTY
@given(environ=body_environs())
def test_body_fields_read_like_werkzeug(app, environ):
    ours, theirs = FastRequest(environ), Request(environ)

    assert ours.mimetype == theirs.mimetype
    assert ours.mimetype_params == theirs.mimetype_params
    assert ours.content_type == theirs.content_type
    assert ours.content_length == theirs.content_length


class ServerStream:
    """wsgi.input as a server gives it: `step` bytes at most per read; the connection
    resets once the first `fail_at` bytes are delivered, for any read that wants more."""

    def __init__(self, data: bytes, step: int, fail_at: int | None) -> None:
        self.data, self.step = data, step
        self.fail_at = len(data) if fail_at is None else min(fail_at, len(data))
        self.failing = self.fail_at < len(data)

    def read(self, size: int = -1) -> bytes:
        if self.failing and (size < 0 or self.fail_at == 0):
            raise OSError("connection reset")
        size = self.fail_at if size < 0 else min(size, self.step, self.fail_at)
        chunk, self.data = self.data[:size], self.data[size:]
        self.fail_at -= len(chunk)
        return chunk


class BufferedServerStream(ServerStream):
    """The same, with readinto, which Werkzeug uses where a stream has it."""

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@st.composite
def body_reads(draw):
    """A POST's environ, its body limit, and the bytes its server's stream would hold."""
    body = draw(st.binary(max_size=40))
    environ = create_environ("/v1/items", method="POST")
    framing = draw(st.sampled_from(["length", "chunked", "both", "none"]))
    # The client's Content-Length: right, or more or fewer bytes than it sends.
    declared = draw(
        st.just(len(body))
        | st.integers(0, len(body))
        | st.integers(len(body), 50)
        | st.sampled_from([2**31, 2**63])  # far more than any buffer should hold
    )
    if framing in ("length", "both"):
        environ["CONTENT_LENGTH"] = str(declared)
    if framing in ("chunked", "both"):
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    terminated = draw(st.booleans())
    if terminated:
        environ["wsgi.input_terminated"] = True
        if framing == "length":
            body = body[:declared]  # such a server ends the stream at the length
    limit = draw(st.none() | st.integers(0, 50))
    step = draw(st.integers(1, 64))
    fail_at = draw(st.none() | st.integers(0, len(body)))
    stream = draw(st.sampled_from([ServerStream, BufferedServerStream]))
    return environ, limit, body, step, fail_at, stream


FRAMING_KEYS = ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "wsgi.input_terminated")


def read_outcome(read):
    try:
        return "reads", read()
    except (HTTPException, IncompleteBody) as exc:
        return "raises", type(exc)
    except OSError:
        return "raises", OSError


@PROPERTY
@given(case=body_reads())
def test_read_body_reads_like_get_data(app, case):
    """The same bytes or the same error as Werkzeug's get_data, from the same stream."""
    environ, limit, body, step, fail_at, stream = case
    framing = {key: environ[key] for key in FRAMING_KEYS if key in environ}
    note(f"{framing}, limit {limit}, body {body!r}, step {step}, fail at {fail_at}, {stream}")
    theirs = Request({**environ, "wsgi.input": stream(body, step, fail_at)})
    ours = FastRequest({**environ, "wsgi.input": stream(body, step, fail_at)})
    theirs.max_content_length = ours.max_content_length = limit

    expected = read_outcome(lambda: theirs.get_data(cache=True))
    stopped_at_limit = limit is not None and expected[0] == "reads" and len(expected[1]) >= limit
    if theirs.content_length is None and stopped_at_limit:
        # Werkzeug stops a streamed body at the limit without saying so; the rest
        # may be unread, so the body is refused whole.
        expected = ("raises", RequestEntityTooLarge)
    elif theirs.content_length == 0:
        # An empty body needs no read. Werkzeug reads a stream the server ends
        # anyway, and a failure there would be an error for nothing.
        expected = ("reads", b"")
    elif (
        expected[0] == "reads"
        and theirs.content_length is not None
        and len(expected[1]) < theirs.content_length
    ):
        # A server that ends the stream itself may end it early (the client
        # stopped, a read deadline cut it); Werkzeug returns what came, we refuse it.
        expected = ("raises", IncompleteBody)
    elif expected == ("raises", OSError) and theirs.content_length is not None:
        # Werkzeug hands over an unwrapped stream when the server ends it and there
        # is no limit; a failed read of a body of known length is a disconnect too.
        expected = ("raises", ClientDisconnected)
    assert read_outcome(ours.read_body) == expected
    if expected[0] == "reads":
        assert ours.get_data() == expected[1]  # kept where get_data looks
    if expected[0] == "reads" and ours.content_length is not None:  # read directly
        assert ours.stream.read() == b""  # spent: nothing more is read from the server


def test_read_body_examples():
    environ = create_environ("/v1/items", method="POST", data=b'{"a": 1}')
    request = FastRequest(environ)
    assert request.read_body() == b'{"a": 1}'
    assert request.read_body() == b'{"a": 1}'  # read once, then kept

    environ = create_environ("/v1/items", method="POST", data=b'{"a": 1}{"b": 2}')
    environ["CONTENT_LENGTH"] = "8"  # the stream holds more than the client declared
    assert FastRequest(environ).read_body() == b'{"a": 1}'

    environ = create_environ("/v1/items", method="POST", data=b'{"a": 1}')
    request = FastRequest(environ)
    assert request.stream.read(3) == b'{"a'  # someone opened the stream first
    assert request.read_body() == b'": 1}'  # the rest of it, as get_data() would give

    environ = create_environ("/v1/items", method="POST", data=b'{"a": 1}')
    environ["CONTENT_LENGTH"] = "20"  # the client promised more than it sent
    with pytest.raises(ClientDisconnected):
        FastRequest(environ).read_body()

    environ = create_environ("/v1/items", method="POST", data=b"x" * 11)
    request = FastRequest(environ)
    request.max_content_length = 10
    with pytest.raises(RequestEntityTooLarge):
        request.read_body()


@pytest.mark.parametrize("declared", [2**62, 2**63])
def test_read_body_does_not_trust_a_huge_length_without_a_limit(app, declared):
    """No limit configured: a huge Content-Length is read in pieces, and the short body
    is a disconnect, not a buffer of the declared size (MemoryError, OverflowError)."""
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.post("/unlimited")
    @dataschema({"a": int})  # no max_body of its own, as /v1/calc/add now has
    def unlimited(data):
        return data

    response = app.test_client().post(
        "/unlimited",
        data=b'{"a": 1}',
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(declared)},
    )

    assert response.status_code == 400
    assert response.get_json()["title"] == "Bad Request"


@pytest.mark.parametrize("configured", [None, 10, 1024])
@pytest.mark.parametrize("own", [None, 5])
def test_max_content_length_reads_like_flask(make_app, configured, own):
    app = make_app(MAX_CONTENT_LENGTH=configured)
    environ = create_environ("/v1/items", method="POST")
    ours, theirs = FastRequest(environ), Request(environ)
    ours.max_content_length = theirs.max_content_length = own
    outside = (ours.max_content_length, theirs.max_content_length)

    with app.app_context():
        inside = (ours.max_content_length, theirs.max_content_length)

    assert outside == (own, own)  # no app: only the request's own limit
    assert inside[0] == inside[1] == (own if own is not None else configured)


# dump_json ------------------------------------------------------------------------------


class Level(enum.IntEnum):
    LOW = 1


class Colour(enum.Enum):
    RED = "red"


class Redacted(dict):
    """A dict subclass that hides its private keys: json.dumps asks it for its items."""

    def items(self):
        return [(key, value) for key, value in super().items() if not key.startswith("_")]


@dataclasses.dataclass
class Point:
    x: int


def json_dumps(document):
    return json.dumps(document, separators=(",", ":"), allow_nan=False, default=_json_default)


def encoded(encode, document):
    """What an encoder makes of a document: its parsed value, or the type of its error."""
    try:
        text = encode(document)
    except (TypeError, ValueError) as exc:
        return "raises", type(exc)
    return "writes", json.loads(text)


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),  # NaN and both infinities too
    st.text(),  # unpaired surrogates too
    st.datetimes(timezones=st.none() | st.timezones()),
    st.dates(),
    st.uuids(),
    st.sampled_from([Level.LOW, Colour.RED, Point(1), b"bytes", {1, 2}]),
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(), children, max_size=4),
        st.dictionaries(st.text(max_size=3), children, max_size=4).map(Redacted),
        st.dictionaries(st.integers() | st.booleans() | st.none(), children, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, database=None)
@given(DOCUMENTS)
def test_dump_json_writes_what_json_dumps_writes(document):
    """The same values, or the same refusal (NaN, Infinity, types it cannot write)."""
    assert encoded(dump_json, document) == encoded(json_dumps, document)


@pytest.mark.parametrize(
    "document",
    [
        {"ratio": math.nan},
        [1, [2, {"deep": -math.inf}]],
        {"note": None, "ratio": math.inf},  # a real null beside the infinity
        {"big": 2**70, "ratio": math.nan},  # orjson refuses the integer first
    ],
)
def test_dump_json_refuses_nan_and_infinity(document):
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        dump_json(document)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"a": [1, 2], "b": None}, b'{"a":[1,2],"b":null}'),
        ({"name": "Zoë"}, '{"name":"Zoë"}'.encode()),  # UTF-8, as the contract says
        ({"big": 2**64}, b'{"big":18446744073709551616}'),
        ({1: True}, b'{"1":true}'),
        ("\ud800", b'"\\ud800"'),
        (Redacted(a=1, _secret=2), b'{"a":1}'),
        ({"at": datetime(2026, 1, 2, 3, 4, 5, 6)}, b'{"at":"2026-01-02T03:04:05.000006"}'),
        ({"level": Level.LOW}, b'{"level":1}'),
        ({"colour": Colour.RED}, b'{"colour":"red"}'),
        ({"colour": Colour.RED, "note": None}, b'{"colour":"red","note":null}'),
    ],
)
def test_dump_json_examples(document, expected):
    assert dump_json(document) == expected


def test_dump_json_nests_as_deep_as_json_dumps():
    document: list = []
    for _ in range(400):  # past orjson's limit of 254 levels
        document = [document]

    assert json.loads(dump_json(document)) == document
