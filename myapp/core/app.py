"""ApiFlask: the Flask app whose views return ApiResults, rendered as JSON responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import ImmutableDict
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from myapp.core.errors import handle_unexpected
from myapp.core.request import ApiRequest, api_request
from myapp.core.response import ApiResponse
from myapp.core.result import ApiResult
from myapp.core.routing import ApiMap, IdConverter


class NotReady(Exception):
    """A dependency answers but cannot serve yet; the message says why (readiness checks)."""


class _NoSession(SessionMixin, dict):  # type: ignore[type-arg]
    """An always-empty session: a bearer-token JSON API keeps no cookie state."""


class NoSessionInterface(SessionInterface):
    """Skip cookie sessions entirely; they cost time on every request and are never used."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin:
        return _NoSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class ApiFlask(Flask):
    """A Flask app whose views return ApiResults (or dicts and lists) rendered as JSON.

    Every response, success or error, leaves through `finish_response`, the last
    after-request hook, which adds the headers the wire contract promises and
    those the request collected on the way (`ApiRequest.response_headers`).
    """

    request_class = ApiRequest
    response_class: type[ApiResponse] = ApiResponse
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
            # Use myapp.core.fastpath where the installed libraries are the verified ones.
            "FAST_PATH": True,
            # Scheme, host (and path prefix) of every absolute URL the API writes;
            # None takes them from the request, whose Host the client chooses.
            "PUBLIC_URL": None,
            # Exact origins ("https://app.example.com") whose browser apps may call the
            # API (myapp.core.cors); empty: CORS is off.
            "CORS_ORIGINS": (),
            # Seconds a browser may keep a preflight's answer.
            "CORS_MAX_AGE": 600,
            # Keep serving @deprecated routes past their sunset (with their headers).
            "SERVE_AFTER_SUNSET": False,
            # The bearer token /metrics answers (myapp.core.metrics); None: metrics off.
            "METRICS_TOKEN": None,
            # A span per request through OpenTelemetry (myapp.core.tracing).
            "OTEL": False,
        }
    )
    #: The libraries whose guarded fast path this app uses (see myapp.core.fastpath).
    fast_path: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Dependency name -> a callable that raises when it is unreachable, or
        #: NotReady when it answers but cannot serve yet (/health/ready).
        self.readiness_checks: dict[str, Callable[[], object]] = {}
        super().__init__(*args, **kwargs)
        self.url_map.converters["id"] = IdConverter
        # Registered first, so it runs last: after every other hook has had its say.
        self.after_request(self.finish_response)

    def make_response(self, rv: Any) -> Response:
        """Render ApiResults, dicts and lists (alone or in Flask's tuple forms) as JSON.

        Response objects pass through, but for two of Flask's own: routing redirects
        lose Werkzeug's HTML body, and the automatic answer to OPTIONS is a 204. Text
        and bytes are refused, because a JSON API never sends a body that is not JSON.
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
            # A bug in the view: logged with the request id, answered as a 500 problem.
            return handle_unexpected(exc)
        if isinstance(rv, RequestRedirect):
            redirect = self.response_class(status=rv.code, headers={"Location": rv.new_url})
            del redirect.headers["Content-Type"]
            return redirect
        response = super().make_response(rv)
        if _is_automatic_options(response):
            response.status_code = 204
            del response.headers["Content-Type"]
        return response

    def render_result(self, result: ApiResult) -> Response:
        """Render an ApiResult as a JSON response in the success envelope."""
        return self.response_class.for_document(result.envelope(), result.status, result.headers)

    def finish_response(self, response: Response) -> Response:
        """Add the standard headers and the request's `response_headers`; drop an unread body."""
        current = api_request()
        fields = [
            ("X-Request-ID", current.request_id),
            ("X-Content-Type-Options", "nosniff"),
            *current.response_headers,
        ]
        # Not with `in headers`, which Werkzeug answers by raising and catching KeyError.
        for key, _ in response.headers:
            if key.lower() == "cache-control":
                break  # the view chose its own caching
        else:
            fields.append(("Cache-Control", "no-store"))
        if isinstance(response, ApiResponse):
            response.add_fields(fields)
        else:
            response.headers.extend(fields)
        current.discard_unread_body()
        return response


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


def _is_automatic_options(response: Response) -> bool:
    """Whether this is Flask's own empty 200 answer to OPTIONS on a route that has one."""
    current = api_request()
    rule = current.url_rule
    return (
        current.method == "OPTIONS"
        and rule is not None
        and bool(getattr(rule, "provide_automatic_options", False))
        and response.status_code == 200
        and response.content_length in (None, 0)
    )


def trust_proxy_hops(app: Flask, hops: int) -> None:
    """Believe X-Forwarded-For/-Proto from exactly `hops` proxies in front of the app."""
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
