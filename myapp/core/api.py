"""ApiFlask and ApiResult: the one path from a view's return value to a JSON response."""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import io
import json
import os
import re
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from itertools import chain
from typing import Any, cast

import orjson
from flask import Flask, Request, Response
from flask.ctx import AppContext, RequestContext
from flask.ctx import _sentinel as _ctx_sentinel
from flask.globals import _cv_app, _cv_request
from flask.sessions import SessionInterface, SessionMixin
from flask.signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    request_finished,
    request_started,
    request_tearing_down,
)
from werkzeug.datastructures import Headers, ImmutableDict
from werkzeug.exceptions import BadHost, ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter, Map, MapAdapter, RequestRedirect, Rule
from werkzeug.sansio.utils import get_content_length
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_host

JSON_MIMETYPE = "application/json"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NO_BODY = frozenset({204, 304})
# Fields Werkzeug rewrites as a response is sent (IRIs become URIs).
_URL_FIELDS = frozenset({"location", "content-location"})
_BODY_FIELDS = frozenset({"content-type", "content-length"})
Field = tuple[str, str]
# "Not passed", as teardowns tell it from None: Flask's own value for context pops,
# which RequestContext.pop hands on, unresolved, to the app context it pushed.
_UNSET: Any = _ctx_sentinel


def append_fields(headers: Headers, fields: Iterable[Field]) -> None:
    """Append header fields this package built itself, skipping Werkzeug's per-field checks.

    Only for names and values known to be safe (tokens, digits, validated ids):
    `Headers.extend` re-checks every value for line breaks, and on a small JSON
    answer those checks cost more than the rest of the headers' handling together.
    Werkzeug is pinned in requirements.txt; tests/core/test_fastpaths.py holds this to
    the public `Headers` API.
    """
    headers._list.extend(fields)


class ApiResult:
    """A view's successful outcome: a value for the `data` envelope, a status and headers."""

    __slots__ = ("headers", "ratelimit", "status", "value")

    def __init__(self, value: Any, status: int = 200, headers: Mapping[str, str] | None = None):
        self.value = value
        self.status = status
        self.headers = Headers(headers) if headers else Headers()
        #: The limiter's verdict for this request, set by the rate-limit layer.
        self.ratelimit: Any = None

    def envelope(self) -> dict[str, Any]:
        """Return the JSON document this result is rendered as."""
        return {"data": self.value}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.value!r}>"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value  # as orjson writes one
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every response: json.dumps would build a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_json_default)
# Only looks for NaN and Infinity in a document orjson has written, so one that is
# neither circular nor holding unpaired surrogates: the quickest settings for that.
_NAN_CHECK = json.JSONEncoder(
    allow_nan=False, check_circular=False, ensure_ascii=False, default=_json_default
)
# Dates and subclasses of str, int, dict and list go to _json_default, which refuses
# the subclasses: json.dumps, not orjson, decides how those are written.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dump_json(document: Any) -> bytes:
    """Encode a document compactly as UTF-8 JSON, refusing NaN and Infinity.

    orjson writes a page of twenty items some twenty times faster than the
    standard library. Where it differs, the standard library's encoder decides:
    it writes what orjson refuses (integers past 64 bits, keys that are not
    strings, unpaired surrogates, nesting past 254 levels, subclasses), and it
    checks any document whose text has a null, since orjson writes NaN and
    Infinity as null where json.dumps raises ValueError. The two write the same
    values; only the spelling of floats and non-ASCII text differs.
    """
    try:
        body = orjson.dumps(document, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return _ENCODER.encode(document).encode()
    if b"null" in body:
        _NAN_CHECK.encode(document)  # raises ValueError for NaN and Infinity
    return body


class ApiResponse(Response):
    """A Werkzeug response that sends itself without copying its headers when it can.

    Before sending, Werkzeug copies every field (re-checking each) so that it can
    rewrite Location and Content-Location, drop fields on bodiless statuses and
    count a missing Content-Length. A response with none of those to do, as a
    JSON answer is, needs no copy: the fields go out as they are, and
    `get_wsgi_headers` returns the response's own `headers` rather than a copy.
    """

    default_mimetype = JSON_MIMETYPE

    def get_wsgi_headers(self, environ: Any) -> Headers:
        status = self.status_code
        if status < 200 or status in _NO_BODY:
            return super().get_wsgi_headers(environ)
        names = {key.lower() for key, _ in self.headers}
        if names & _URL_FIELDS or ("content-length" not in names and self.is_sequence):
            return super().get_wsgi_headers(environ)
        return self.headers

    def get_app_iter(self, environ: Any) -> Iterable[bytes]:
        """Werkzeug's, but a body of bytes with nothing to close goes out as the list it is.

        Werkzeug wraps every body in a generator (to encode text) and a
        ClosingIterator (to run `call_on_close` callbacks), and the server walks
        both in Python. A JSON answer is one bytes chunk with no callbacks.
        """
        body, status = self.response, self.status_code
        if (
            type(body) is list
            and not self._on_close
            and environ["REQUEST_METHOD"] != "HEAD"
            and status >= 200
            and status not in _NO_BODY
            and all(type(chunk) is bytes for chunk in body)
        ):
            return body
        return super().get_app_iter(environ)


def json_response(
    document: Any, status: int, headers: Headers | None = None, mimetype: str = JSON_MIMETYPE
) -> ApiResponse:
    """Build a JSON response, which takes `headers` as its own; 204 and 304 have no body."""
    headers = Headers() if headers is None else headers
    if status in _NO_BODY:
        response = ApiResponse(status=status, headers=headers)
        del response.headers["Content-Type"]
        return response
    body = dump_json(document)
    length = str(len(body))
    if headers and not _BODY_FIELDS.isdisjoint(key.lower() for key, _ in headers):
        headers["Content-Type"] = mimetype  # the view named one of them: replace it
        headers["Content-Length"] = length
    else:
        append_fields(headers, (("Content-Type", mimetype), ("Content-Length", length)))
    return ApiResponse([body], status, headers)


class IdConverter(BaseConverter):
    """`<id:name>`: a positive 64-bit integer; anything else is a 404 like a missing row.

    19-digit values past 2**63-1 become 0, an id no row has: rejecting them here
    instead would make Werkzeug answer 405 for the route's other methods.
    """

    regex = r"[1-9][0-9]{0,18}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= 2**63 - 1 else 0

    def to_url(self, value: Any) -> str:
        return str(int(value))


class ApiMap(Map):
    """Werkzeug's URL map, holding StaticRouteAdapter's cache, emptied when a rule is added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: (normalized path, method) -> the rule Werkzeug matched, for StaticRouteAdapter.
        self.static_matches: dict[tuple[str, str], Rule] = {}
        super().__init__(*args, **kwargs)

    def add(self, rulefactory: Any) -> None:
        """Werkzeug's, then an empty cache: nothing promises a new rule leaves old answers."""
        super().add(rulefactory)
        self.static_matches = {}


class StaticRouteAdapter(MapAdapter):
    """Werkzeug's URL adapter for an ApiMap, remembering which rule a static route matched.

    Matching walks Werkzeug's state machine on every request. For a rule without
    arguments and with its methods listed, the answer to a path and method is fixed
    while the map's rules are: no converter runs, and the host, scheme and query only
    shape redirects, which are raised and never remembered. Only such rules are
    remembered, under the path as Werkzeug normalizes it and the upper-case method,
    so the cache is bounded by the static routes and their methods, whatever paths
    and methods clients send. `ApiFlask` binds it only where Werkzeug's match depends
    on nothing else (no host or subdomain matching, no WebSocket); the map empties
    the cache when it gains a rule, and settings such as `strict_slashes` are taken
    as fixed once requests are served. tests/core/test_fastpaths.py holds it to
    Werkzeug's answers.
    """

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: Mapping[str, Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[Any, Mapping[str, Any]]:
        given = (path_info, method, query_args, websocket)
        if not return_rule or self.websocket or given != (None, None, None, None):
            # Werkzeug's overloads take return_rule as a literal, not a bool.
            answer = super().match(path_info, method, return_rule, query_args, websocket)  # type: ignore[call-overload]
            return cast(tuple[Any, Mapping[str, Any]], answer)
        path = self.path_info
        key = (f"/{path.lstrip('/')}" if path else "", self.default_method.upper())
        matches = cast(ApiMap, self.map).static_matches
        rule = matches.get(key)
        if rule is not None:
            return rule, {}
        rule, args = super().match(return_rule=True)
        if not rule.arguments and rule.methods is not None:
            matches[key] = rule
        return rule, args


class ApiRequest(Request):
    """A request that knows its id, echoed from the client when it is well formed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: perf_counter() when the request arrived, for the access log's duration.
        self.started = time.perf_counter()
        #: Fields for whatever response this request gets, success or error, added
        #: unchecked by `ApiFlask.process_response`: only for values built in code
        #: (the limiter's counts), never for text that came from a client, and never
        #: a field the response may set itself (Cache-Control, Content-Type...).
        self.response_fields: list[Field] = []

    @cached_property
    def request_id(self) -> str:
        """Return the client's X-Request-ID when valid, else a fresh random id."""
        given: str = self.environ.get("HTTP_X_REQUEST_ID", "")  # the header, read directly
        if _REQUEST_ID.fullmatch(given):
            return given
        return os.urandom(16).hex()  # as random as uuid4().hex, at a fraction of the cost

    # What a JSON body needs to know, read from the environ keys Werkzeug's
    # EnvironHeaders would look up, without building it; and the body limit from
    # the app's config without the `current_app` proxy. tests/core/test_fastpaths.py
    # holds each to Werkzeug's and Flask's answers.

    def _parse_content_type(self) -> None:
        if not hasattr(self, "_parsed_content_type"):
            self._parsed_content_type = parse_options_header(self.environ.get("CONTENT_TYPE", ""))

    @cached_property
    def content_length(self) -> int | None:
        """The Content-Length as Werkzeug reads it (None when chunked or absent)."""
        return get_content_length(
            http_content_length=self.environ.get("CONTENT_LENGTH"),
            http_transfer_encoding=self.environ.get("HTTP_TRANSFER_ENCODING"),
        )

    @property
    def max_content_length(self) -> int | None:
        """Flask's: set on this request, else the app's MAX_CONTENT_LENGTH."""
        if self._max_content_length is not None:
            return self._max_content_length
        try:
            app = _cv_app.get().app
        except LookupError:
            return super().max_content_length
        limit: int | None = app.config["MAX_CONTENT_LENGTH"]
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def read_body(self) -> bytes:
        """The body, as `get_data()` reads and keeps it, but straight from the server's stream.

        Werkzeug reads through a LimitedStream, an io.RawIOBase built for each
        request, which costs more than the read on a small JSON body. With a
        Content-Length within `max_content_length`, the stream holds that many
        bytes, so they are read directly, with Werkzeug's outcomes: 413 above
        the limit, and ClientDisconnected when the stream fails or ends early,
        unless the server ends the stream itself (`wsgi.input_terminated`, and
        then at the length), for which a short body is just short. An empty body
        needs no read. No length (chunked), a stream already opened, or a body
        already read go to `get_data()`; there, one difference: a streamed body
        that reaches the limit is a 413, where Werkzeug cuts it off silently.
        """
        length = self.content_length
        limit = self.max_content_length
        if (
            length is None
            or self.shallow
            or "stream" in self.__dict__
            or "_cached_data" in self.__dict__
        ):
            data = self.get_data(cache=True)
            if length is None and limit is not None and len(data) >= limit:
                # It may be longer than what was read, so it is refused whole.
                raise RequestEntityTooLarge()
            return data
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        stream = self.environ["wsgi.input"]
        chunks = []
        remaining = length
        try:
            while remaining > 0:
                # At most 64 KiB a read, as Werkzeug reads: a buffered stream would
                # otherwise allocate whatever length the client declared.
                chunk = stream.read(min(remaining, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except (OSError, ValueError):
            raise ClientDisconnected() from None
        if remaining > 0 and "wsgi.input_terminated" not in self.environ:
            raise ClientDisconnected()
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._cached_data = data  # where get_data() keeps the body it read
        self.__dict__["stream"] = io.BytesIO()  # spent, as after get_data()
        return data

    def close(self) -> None:
        """Werkzeug's: close the uploaded files, when a form was parsed (a JSON body never is)."""
        if "files" in self.__dict__:
            super().close()

    def discard_unread_body(self) -> None:
        """Read and drop a body nothing read, so a kept-alive connection can carry the next.

        Many answers come before the body is read (a 429, 401, 404 or 415), and a
        server that keeps the connection must then skip what is left of it. granian
        does not always: against a 415 that left a small JSON body unread, about one
        kept-alive connection in twenty-five was closed without a `Connection: close`,
        and the client's next request failed with a broken pipe. A body past
        `max_content_length` is left alone: it is refused, and its connection closed.
        """
        environ = self.environ
        if environ.get("CONTENT_LENGTH", "0") in ("", "0") and (
            "HTTP_TRANSFER_ENCODING" not in environ
        ):
            return  # no body: every GET
        if self.shallow or "_cached_data" in self.__dict__:
            return  # read already (or not ours to read)
        length, limit = self.content_length, self.max_content_length
        if length is not None and limit is not None and length > limit:
            return
        # A client that went away or sent too much: the server closes the connection.
        with contextlib.suppress(OSError, ValueError, HTTPException):
            stream = self.stream  # bounded by the length, or by the limit
            while stream.read(65536):
                pass


def _result_from_tuple(rv: tuple[Any, ...]) -> ApiResult:
    """Accept Flask's (value, status), (value, headers) and (value, status, headers)."""
    value, *rest = rv
    if len(rest) == 2:
        return ApiResult(value, rest[0], rest[1])
    if len(rest) == 1 and isinstance(rest[0], int):
        return ApiResult(value, rest[0])
    if len(rest) == 1:
        return ApiResult(value, headers=rest[0])
    return ApiResult(value)


def _request_context() -> RequestContext:
    """Flask's context of the request being handled, read from its context variable.

    The variable behind `flask.request`: the same object for a twentieth of the
    proxy's cost, and the request path asks for it several times. The name is
    private, so Flask is pinned; a Flask without it fails at import, never quietly.
    """
    try:
        return _cv_request.get()
    except LookupError:
        raise RuntimeError("Working outside of request context.") from None


def current_app_context() -> AppContext:
    """Flask's app context, read from its context variable as `_request_context` reads its own.

    For `flask.g` and `current_app` on every request: each use of those proxies costs
    several times what reading the variable does.
    """
    try:
        return _cv_app.get()
    except LookupError:
        raise RuntimeError("Working outside of application context.") from None


def api_request() -> ApiRequest:
    """The request being handled, typed as the ApiRequest it is (the object, not the proxy)."""
    return cast(ApiRequest, _request_context().request)


def current_request_id() -> str:
    """Return the id of the request being handled."""
    return api_request().request_id


@functools.lru_cache(maxsize=256)  # bounded: the Host header comes from the client
def _host_names(
    scheme: str, host_header: str | None, server_name: str | None, server_port: str | None
) -> tuple[str, str]:
    """The request's host, and the server name Werkzeug binds its URL map to (IDNA, lower case).

    Werkzeug works both out on every request, from these four environ values, and
    the IDNA codec alone is a Python-level loop; the answer never changes.
    """
    environ = {"wsgi.url_scheme": scheme, "HTTP_HOST": host_header}
    environ |= {"SERVER_NAME": server_name, "SERVER_PORT": server_port}
    host = get_host({key: value for key, value in environ.items() if value is not None})
    name, colon, port = host.lower().partition(":")
    try:
        return host, f"{name.encode('idna').decode('ascii')}{colon}{port}"
    except UnicodeError as exc:
        raise BadHost() from exc


def _wsgi_text(environ: Any, key: str) -> str | None:
    """An environ string as Werkzeug reads it: WSGI's latin-1 bytes, decoded as UTF-8."""
    value: str | None = environ.get(key)
    return None if value is None else value.encode("latin1").decode(errors="replace")


class ApiAppContext(AppContext):
    """Flask's app context, step for step, sending its two signals only when something listens.

    Every request pushes and pops one, and blinker's send costs even with no receivers.
    """

    def push(self) -> None:
        """Flask's: bind the context, then `appcontext_pushed`."""
        self._cv_tokens.append(_cv_app.set(self))
        if appcontext_pushed.receivers:
            appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

    def pop(self, exc: BaseException | None = _UNSET) -> None:
        """Flask's: app-context teardown (for the outermost push), unbind, `appcontext_popped`."""
        try:
            if len(self._cv_tokens) == 1:
                if exc is _UNSET:
                    exc = sys.exc_info()[1]
                self.app.do_teardown_appcontext(exc)
        finally:
            ctx = _cv_app.get()
            _cv_app.reset(self._cv_tokens.pop())
        if ctx is not self:
            raise AssertionError(f"Popped wrong app context. ({ctx!r} instead of {self!r})")
        if appcontext_popped.receivers:
            appcontext_popped.send(self.app, _async_wrapper=self.app.ensure_sync)


class _NoSession(SessionMixin, dict):  # type: ignore[type-arg]
    """An always-empty session: a bearer-token JSON API keeps no cookie state."""


class NoSessionInterface(SessionInterface):
    """Skip cookie sessions entirely; they cost time on every request and are never used."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin:
        return _NoSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class ApiFlask(Flask):
    """A Flask app whose views return ApiResults (or dicts and lists) rendered as JSON."""

    request_class = ApiRequest
    response_class = ApiResponse
    url_map_class = ApiMap
    session_interface = NoSessionInterface()
    #: Flask's defaults plus the API layer's own, so the core works without myapp.config.
    default_config = ImmutableDict(
        {
            **Flask.default_config,
            # Bodies larger than this are refused with 413.
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            # Deeper JSON documents are refused with 400.
            "JSON_MAX_DEPTH": 32,
            # Our own problem types are this base plus a slug.
            "PROBLEM_TYPE_BASE": "https://myapp.dev/problems/",
            # Blueprint modules (relative to the discovered package) not registered.
            "DISABLED_BLUEPRINTS": (),
        }
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Applied to every view function as its route is added, once per function.
        self.view_decorators: list[Callable[[Any], Any]] = []
        self._decorated: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._is_async: weakref.WeakKeyDictionary[Callable[..., Any], bool] = (
            weakref.WeakKeyDictionary()
        )
        #: Dependency name -> a callable that raises when it is unreachable (readiness).
        self.readiness_checks: dict[str, Callable[[], object]] = {}
        super().__init__(*args, **kwargs)
        self.url_map.converters["id"] = IdConverter

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Add a route, first passing its view through `view_decorators`."""
        if view_func is not None and self.view_decorators:
            if view_func not in self._decorated:
                decorated = view_func
                for decorate in self.view_decorators:
                    decorated = decorate(decorated)
                self._decorated[view_func] = decorated
            view_func = self._decorated[view_func]
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)

    def make_response(self, rv: Any) -> Response:
        """Render ApiResults, dicts and lists (alone or in Flask's tuple forms) as JSON.

        Response objects pass through untouched; text and bytes are refused, because
        a JSON API never sends a body that is not JSON.
        """
        if isinstance(rv, tuple) and rv and isinstance(rv[0], (dict, list)):
            rv = _result_from_tuple(rv)
        elif isinstance(rv, (dict, list)):
            rv = ApiResult(rv)
        try:
            if isinstance(rv, ApiResult):
                return self.render_result(rv)
            if isinstance(rv, (str, bytes, bytearray)):
                raise TypeError(
                    f"a view returned {type(rv).__name__}; return an ApiResult, a dict or a list"
                )
        except (TypeError, ValueError) as exc:  # not JSON-serializable, not finite, not JSON
            # The one error path: logged with the request id, answered as a 500 problem.
            return super().make_response(self.handle_user_exception(exc))
        return super().make_response(rv)

    def render_result(self, result: ApiResult) -> Response:
        """Render an ApiResult as a JSON response in the success envelope."""
        return json_response(result.envelope(), result.status, result.headers)

    def handle_http_exception(self, e: HTTPException) -> Any:
        """Answer routing redirects without Werkzeug's HTML body; route the rest as usual."""
        if isinstance(e, RequestRedirect):
            response = Response(status=e.code, headers={"Location": e.new_url})
            del response.headers["Content-Type"]
            return response
        return super().handle_http_exception(e)

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Flask's URL adapter for a request, with the host worked out once per host.

        For the usual setup (no SERVER_NAME, TRUSTED_HOSTS, host or subdomain
        matching, no WebSocket upgrade) this binds the URL map as Werkzeug's
        `bind_to_environ` would, step for step, but takes the host names from
        `_host_names`; anything else goes to Flask. tests/core/test_fastpaths.py
        holds the two to the same adapter and the same `request.host`.
        """
        config = self.config
        if (
            request is None
            or config["SERVER_NAME"] is not None
            or config["TRUSTED_HOSTS"] is not None
            or request.trusted_hosts is not None
            or type(self.url_map) not in (Map, ApiMap)  # a custom map may bind differently
            or self.url_map.host_matching
            or self.subdomain_matching
            or "HTTP_UPGRADE" in request.environ
        ):
            return super().create_url_adapter(request)
        environ = request.environ
        scheme = environ["wsgi.url_scheme"]
        script_name = _wsgi_text(environ, "SCRIPT_NAME")
        path_info = _wsgi_text(environ, "PATH_INFO")
        query = _wsgi_text(environ, "QUERY_STRING")
        host, server_name = _host_names(
            scheme,
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
        )
        request.host = host  # as Flask does
        adapter = StaticRouteAdapter if type(self.url_map) is ApiMap else MapAdapter
        return adapter(
            self.url_map,
            server_name,
            "/" if script_name is None else script_name,
            self.url_map.default_subdomain or "",
            scheme,
            "/" if path_info is None else path_info,
            environ["REQUEST_METHOD"],
            query,
        )

    def app_context(self) -> ApiAppContext:
        """Flask's app context, as an ApiAppContext."""
        return ApiAppContext(self)

    def make_default_options_response(self) -> Response:
        """Answer OPTIONS with 204 and the Allow header, not an empty HTML page."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response

    # The request cycle. Flask's own methods, step for step, with three savings: the
    # request is read from its context variable once rather than through the
    # `flask.request` proxy at every use, a signal with no receivers is not sent,
    # and a kind of hook no one registered skips working out the request's
    # blueprints. tests/core/test_cycle.py holds them to Flask's hooks and signals.

    def full_dispatch_request(self) -> Response:
        """Flask's: signal, before-request hooks, the view, then finalize_request."""
        self._got_first_request = True
        try:
            if request_started.receivers:
                request_started.send(self, _async_wrapper=self.ensure_sync)
            rv = self.preprocess_request()
            if rv is None:
                rv = self.dispatch_request()
        except Exception as e:
            rv = self.handle_user_exception(e)
        return self.finalize_request(rv)

    def finalize_request(self, rv: Any, from_error_handler: bool = False) -> Response:
        """Flask's: the response, after-request processing and its signal."""
        response = self.make_response(rv)
        try:
            response = self.process_response(response)
            if request_finished.receivers:
                request_finished.send(self, _async_wrapper=self.ensure_sync, response=response)
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception("Request finalizing failed with an error while handling an error")
        return response

    def preprocess_request(self) -> Any:
        """Flask's: URL value preprocessors, then before-request hooks, app first."""
        current = api_request()
        if not (self.url_value_preprocessors or self.before_request_funcs):
            return None  # the usual case: no hooks, and no blueprint names to work out
        names = (None, *reversed(current.blueprints))
        for name in names:
            for url_func in self.url_value_preprocessors.get(name, ()):
                url_func(current.endpoint, current.view_args)
        for name in names:
            for before_func in self.before_request_funcs.get(name, ()):
                rv = self.ensure_sync(before_func)()
                if rv is not None:
                    return rv
        return None

    def dispatch_request(self) -> Any:
        """Flask's: raise the routing error, answer automatic OPTIONS, or call the view."""
        current = api_request()
        if current.routing_exception is not None:
            self.raise_routing_exception(current)
        rule = current.url_rule
        if getattr(rule, "provide_automatic_options", False) and current.method == "OPTIONS":
            return self.make_default_options_response()
        view = self.view_functions[rule.endpoint]  # type: ignore[union-attr]
        return self.ensure_sync(view)(**current.view_args)  # type: ignore[arg-type]

    def process_response(self, response: Response) -> Response:
        """Flask's after-request hooks, then the standard headers every response carries."""
        ctx = _request_context()
        current = cast(ApiRequest, ctx.request)
        for func in ctx._after_request_functions:
            response = self.ensure_sync(func)(response)
        if self.after_request_funcs:
            for name in chain(current.blueprints, (None,)):
                for func in reversed(self.after_request_funcs.get(name, ())):
                    response = self.ensure_sync(func)(response)
        if not self.session_interface.is_null_session(ctx._session):
            self.session_interface.save_session(self, ctx._session, response)  # type: ignore[arg-type]
        headers = response.headers
        # Looked for before the fields below are added, which never include it; and
        # not with `in headers`, which Werkzeug answers by raising and catching KeyError.
        cached = any(key.lower() == "cache-control" for key, _ in headers)
        # Only this method writes these, and every value is built in code or validated.
        append_fields(
            headers,
            (
                ("X-Request-ID", current.request_id),
                ("X-Content-Type-Options", "nosniff"),
                *current.response_fields,
            ),
        )
        if not cached:
            append_fields(headers, (("Cache-Control", "no-store"),))
        current.discard_unread_body()
        return response

    def do_teardown_request(self, exc: BaseException | None = _UNSET) -> None:
        """Flask's: teardown hooks, innermost blueprint first, then the signal."""
        if exc is _UNSET:
            exc = sys.exc_info()[1]
        current = api_request()
        if self.teardown_request_funcs:
            for name in chain(current.blueprints, (None,)):
                for func in reversed(self.teardown_request_funcs.get(name, ())):
                    self.ensure_sync(func)(exc)
        if request_tearing_down.receivers:
            request_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    def do_teardown_appcontext(self, exc: BaseException | None = _UNSET) -> None:
        """Flask's: app-context teardown hooks, last registered first, then the signal."""
        if exc is _UNSET:
            exc = sys.exc_info()[1]
        for func in reversed(self.teardown_appcontext_funcs):
            self.ensure_sync(func)(exc)
        if appcontext_tearing_down.receivers:
            appcontext_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ensure_sync, with whether `func` is a coroutine function remembered.

        Flask asks it of the view and every hook on every request, and the answer
        (an `inspect` walk over the function) never changes. Weak keys let
        per-request callbacks (`after_this_request`) go with their request.
        """
        try:
            is_async = self._is_async[func]
        except KeyError:
            is_async = self._is_async[func] = inspect.iscoroutinefunction(func)
        except TypeError:  # a callable that takes no weak reference: ask each time
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_async else func


def trust_proxy_hops(app: Flask, hops: int) -> None:
    """Believe X-Forwarded-For/-Proto from exactly `hops` proxies in front of the app."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
