"""The ApiException family and the one renderer that turns every failure into a problem."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from myapp.core.request import api_request, current_api_app, current_request_id

PROBLEM_MIMETYPE = "application/problem+json"
# A few Werkzeug descriptions mark words up with <code>; problem details are plain text.
_TAG = re.compile(r"<[^>]*>")
# Werkzeug's own headers describe its HTML body; everything else (Allow,
# WWW-Authenticate, Retry-After) is kept when the error is rendered as JSON.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class ApiException(Exception):
    """An error a client may see; subclasses set status, title and type as class attributes.

    `type` is a slug joined to the configured PROBLEM_TYPE_BASE; None means
    "about:blank", whose title is the HTTP status phrase.
    """

    status: int = 500
    title: str | None = None
    type: str | None = None
    detail: str = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail
        self.errors = errors
        self.headers = Headers(headers) if headers else Headers()
        self.extra = extra

    def problem(self, type_base: str, instance: str, request_id: str) -> dict[str, Any]:
        """Return the RFC 9457 members of this problem, in a stable order."""
        body: dict[str, Any] = {
            "type": type_base + self.type if self.type else "about:blank",
            "title": self.title or _status_phrase(self.status),
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id,
        }
        body.update(self.extra)
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _status_phrase(status: int) -> str:
    """The HTTP status phrase ("Not Found"), as RFC 9110 names it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Error"


class BadRequest(ApiException):
    """The request is malformed (not its content: its form)."""

    status = 400
    title = "Bad request"
    type = "bad-request"
    detail = "The request could not be understood."


class InvalidBody(BadRequest):
    """The body is not well-formed JSON, or not the JSON value the route takes."""

    title = "Malformed request body"
    type = "malformed-body"
    detail = "The request body is not valid JSON."


class IncompleteBody(BadRequest):
    """The body ended before the length its Content-Length declared.

    The client stopped sending, or sent too slowly and the server's read deadline
    cut the connection. Nothing of such a request is acted on.
    """

    title = "Incomplete request body"
    type = "incomplete-body"

    def __init__(self, received: int, declared: int) -> None:
        super().__init__(
            detail=f"The request body ended after {received} of the {declared} bytes "
            "its Content-Length declares."
        )


class InvalidParameters(BadRequest):
    """One or more query parameters are missing or invalid."""

    title = "Invalid query parameters"
    type = "invalid-parameters"
    detail = "One or more query parameters are invalid."


class Unauthorized(ApiException):
    """Missing, invalid, expired or revoked credentials."""

    status = 401
    detail = "Valid bearer credentials are required."

    def __init__(self, detail: str | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(ApiException):
    """Authenticated, but not allowed to do this."""

    status = 403
    detail = "You are not allowed to do this."


class NotFound(ApiException):
    """No such resource, or not one the caller may see."""

    status = 404
    detail = "The requested resource was not found."


class Conflict(ApiException):
    """The request conflicts with the current state (a uniqueness rule)."""

    status = 409
    title = "Conflict"
    type = "conflict"
    detail = "The request conflicts with an existing resource."


class PreconditionFailed(ApiException):
    """If-Match did not match the current representation."""

    status = 412
    detail = "The resource has changed since you last fetched it."


class UnsupportedMediaType(ApiException):
    """A body was sent with a content type other than JSON."""

    status = 415
    detail = "Send the request body as application/json."


class ValidationFailed(ApiException):
    """A well-formed body that fails its schema."""

    status = 422
    title = "Validation failed"
    type = "validation-error"

    @classmethod
    def for_field(cls, pointer: str, detail: str) -> ValidationFailed:
        """The problem for one invalid field, found by a rule beyond the schema."""
        return cls("1 field is invalid.", errors=[{"pointer": pointer, "detail": detail}])


class ServiceUnavailable(ApiException):
    """A dependency is down and the route cannot safely go on."""

    status = 503
    title = "Service unavailable"
    type = "service-unavailable"
    detail = "A service this request depends on is unavailable; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", str(retry_after))


def render_problem(error: ApiException) -> Response:
    """Render an ApiException as an application/problem+json response."""
    current, app = api_request(), current_api_app()
    body = error.problem(app.config["PROBLEM_TYPE_BASE"], current.path, current.request_id)
    return app.response_class.for_document(body, error.status, error.headers, PROBLEM_MIMETYPE)


def from_http_exception(error: HTTPException) -> ApiException:
    """Translate a Werkzeug HTTPException (404, 405, 413, ...) into an about:blank problem."""
    # Every 404 reads the same, so an unknown path, a missing row and someone
    # else's row cannot be told apart.
    code = error.code or 500
    detail = NotFound.detail if code == 404 else _TAG.sub("", error.description or "")
    problem = ApiException(detail or None)
    problem.status = code
    for name, value in error.get_headers():
        if name.lower() not in _BODY_HEADERS:
            problem.headers.add(name, value)
    return problem


def handle_http_exception(error: HTTPException) -> Response:
    """Render a Werkzeug HTTP error as a problem, keeping Allow and similar headers."""
    return render_problem(from_http_exception(error))


def handle_unexpected(error: Exception) -> Response:
    """Log the traceback with the request id, and answer with a generic 500 problem."""
    current_app.logger.error(
        "unhandled %s on %s %s [request_id=%s]",
        type(error).__name__,
        request.method,
        request.path,
        current_request_id(),
        exc_info=error,
    )
    return render_problem(ApiException())


def register_error_handlers(app: Flask) -> None:
    """Send every error, ours, Werkzeug's and unexpected ones, through render_problem."""
    app.register_error_handler(ApiException, render_problem)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
