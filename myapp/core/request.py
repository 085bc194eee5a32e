"""ApiRequest: the request's id and its body read once; the current context's objects."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from flask import Request, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.utils import cached_property

if TYPE_CHECKING:
    from myapp.core.app import ApiFlask

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


#: In the environ while the app waits for the request's body: the client's time, not
#: the app's, so the request watchdog (myapp/core/watchdog.py) does not count it.
READING_BODY = "myapp.reading_body"


class ApiRequest(Request):
    """A request that knows its id, echoed from the client when it is well formed."""

    #: Whether `read_body` has read the body (so nothing is left to discard).
    body_read = False
    #: The ids of the request's own span, when tracing made one (myapp.core.tracing).
    trace_fields: dict[str, str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: perf_counter() when the request arrived, for the access log's duration.
        self.started = time.perf_counter()
        #: Header fields for whatever response this request gets, a success or any
        #: problem (the rate limiter's, for one); `ApiFlask.finish_response` adds them.
        #: Only names and values built in code, never text from the client.
        self.response_headers: list[tuple[str, str]] = []

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.started

    @cached_property
    def request_id(self) -> str:
        """Return the client's X-Request-ID when valid, else a fresh random id."""
        given: str = self.environ.get("HTTP_X_REQUEST_ID", "")  # the header, read directly
        if _REQUEST_ID.fullmatch(given):
            return given
        return os.urandom(16).hex()  # as random as uuid4().hex, at a fraction of the cost

    def read_body(self) -> bytes:
        """The body, read and kept by `get_data()`: 413 past `max_content_length`, 400
        when it ends before its Content-Length.

        Werkzeug refuses a declared length over the limit before reading, but cuts
        a chunked body off at the limit; that one is refused whole too, since it
        may be longer than what was read.
        """
        environ = self.environ
        environ[READING_BODY] = True
        try:
            data = self.get_data(cache=True)
        finally:
            del environ[READING_BODY]
        self.body_read = True
        limit, declared = self.max_content_length, self.content_length
        if declared is None and limit is not None and len(data) >= limit:
            raise RequestEntityTooLarge()
        if declared is not None and len(data) < declared and "wsgi.input_terminated" in environ:
            # A server that ends the stream itself (gunicorn) ends it early without
            # an error when the client stops, or its read deadline cuts the
            # connection, and Werkzeug returns what came. (Elsewhere Werkzeug's
            # LimitedStream raises ClientDisconnected.)
            from myapp.core.errors import IncompleteBody  # errors imports this module

            raise IncompleteBody(len(data), declared)
        return data

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
        if self.shallow or self.body_read:
            return  # read already (or not ours to read)
        length, limit = self.content_length, self.max_content_length
        if length is not None and limit is not None and length > limit:
            return
        # A client that went away or sent too much: the server closes the connection.
        with contextlib.suppress(OSError, ValueError, HTTPException):
            stream = self.stream  # bounded by the length, or by the limit
            while stream.read(65536):
                pass


# The objects behind Flask's proxies, read with Werkzeug's documented getter: every
# attribute read through a proxy costs about a microsecond (the lookup fails on the
# proxy first), the getter a tenth of that. Each is the proxy's own function, so a
# call costs no more than the getter itself.

#: The request being handled, typed as the ApiRequest it is.
api_request: Callable[[], ApiRequest] = cast(Any, request)._get_current_object

#: The app of the current context.
current_api_app: Callable[[], ApiFlask] = cast(Any, current_app)._get_current_object

#: The current context's `g`.
context_globals: Callable[[], Any] = cast(Any, g)._get_current_object


@functools.lru_cache(maxsize=8)
def _split_public_url(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def url_root(current: ApiRequest) -> tuple[str, str, str]:
    """Scheme, host and root path of the absolute URLs written for this request.

    PUBLIC_URL's when it is set; else the request's own, whose Host header the client
    chooses (Flask's TRUSTED_HOSTS refuses the hosts it does not list).
    """
    public: str | None = current_api_app().config["PUBLIC_URL"]
    if public is None:
        return current.scheme, current.host, current.root_path
    scheme, host, prefix = _split_public_url(public)
    return scheme, host, prefix + current.root_path


def current_request_id() -> str:
    """Return the id of the request being handled."""
    return api_request().request_id
