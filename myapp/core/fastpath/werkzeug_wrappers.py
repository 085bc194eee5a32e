"""ApiRequest and ApiResponse with Werkzeug 3.1's and Flask 3.1's steps taken directly.

The request reads what a JSON body needs from the environ keys Werkzeug's
EnvironHeaders would look up, and the body straight from the server's stream;
the response hands its headers and body to the server without Werkzeug's copies.
tests/core/test_fastpaths.py holds each item to the public API it stands for.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask.globals import _cv_app
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.utils import get_content_length
from werkzeug.utils import cached_property

from myapp.core.app import ApiFlask
from myapp.core.errors import IncompleteBody
from myapp.core.request import READING_BODY, ApiRequest
from myapp.core.response import JSON_MIMETYPE, NO_BODY, ApiResponse, dump_json

# Fields Werkzeug rewrites as a response is sent (IRIs become URIs).
_URL_FIELDS = frozenset({"location", "content-location"})
_BODY_FIELDS = frozenset({"content-type", "content-length"})


def append_fields(headers: Headers, fields: Iterable[tuple[str, str]]) -> None:
    """Headers.extend without Werkzeug's per-field checks (Werkzeug 3.1 `Headers._list`).

    Only for names and values known to be safe (tokens, digits, validated ids): on
    a small JSON answer those checks cost more than the rest of the headers' handling.
    """
    headers._list.extend(fields)


class FastRequest(ApiRequest):
    """ApiRequest, reading its body and the fields a JSON body needs directly."""

    def _parse_content_type(self) -> None:
        """Werkzeug's sansio Request._parse_content_type, from the environ key."""
        if not hasattr(self, "_parsed_content_type"):
            self._parsed_content_type = parse_options_header(self.environ.get("CONTENT_TYPE", ""))

    @cached_property
    def content_length(self) -> int | None:
        """Werkzeug's Request.content_length, from the environ keys (None when chunked)."""
        return get_content_length(
            http_content_length=self.environ.get("CONTENT_LENGTH"),
            http_transfer_encoding=self.environ.get("HTTP_TRANSFER_ENCODING"),
        )

    @property
    def max_content_length(self) -> int | None:
        """Flask's Request.max_content_length, with the app from its context variable."""
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
        """ApiRequest.read_body, reading a declared length straight from the server's stream.

        Werkzeug reads through a LimitedStream, an io.RawIOBase built for each
        request, which costs more than the read on a small JSON body. With a
        Content-Length within the limit, the stream holds that many bytes, so
        they are read directly, with the stock path's outcomes: ClientDisconnected
        when the stream fails or ends early, but IncompleteBody when it ends early
        and the server ends the stream itself (`wsgi.input_terminated`, where
        Werkzeug would return what came). No length (chunked),
        a stream already opened, or a body already read go to `get_data()`.
        """
        length = self.content_length
        if (
            length is None
            or self.shallow
            or "stream" in self.__dict__
            or "_cached_data" in self.__dict__
        ):
            return super().read_body()
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        environ = self.environ
        stream = environ["wsgi.input"]
        chunks = []
        remaining = length
        environ[READING_BODY] = True
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
        finally:
            del environ[READING_BODY]
        if remaining > 0:
            if "wsgi.input_terminated" not in environ:
                raise ClientDisconnected()  # as Werkzeug's LimitedStream says it
            raise IncompleteBody(length - remaining, length)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._cached_data = data  # where get_data() keeps the body it read
        self.__dict__["stream"] = io.BytesIO()  # spent, as after get_data()
        self.body_read = True
        return data

    def close(self) -> None:
        """Werkzeug's Request.close, when a form was parsed (a JSON body never is)."""
        if "files" in self.__dict__:
            super().close()


class FastResponse(ApiResponse):
    """ApiResponse, sending its headers and body without Werkzeug's copies when it can."""

    @classmethod
    def for_document(
        cls,
        document: Any,
        status: int,
        headers: Headers | None = None,
        mimetype: str = JSON_MIMETYPE,
    ) -> ApiResponse:
        """ApiResponse.for_document, with the body's fields appended unchecked."""
        headers = Headers() if headers is None else headers
        if status in NO_BODY:
            return super().for_document(document, status, headers, mimetype)
        body = dump_json(document)
        length = str(len(body))
        if headers and not _BODY_FIELDS.isdisjoint(key.lower() for key, _ in headers):
            headers["Content-Type"] = mimetype  # the view named one of them: replace it
            headers["Content-Length"] = length
        else:
            append_fields(headers, (("Content-Type", mimetype), ("Content-Length", length)))
        return cls([body], status, headers)

    def add_fields(self, fields: Iterable[tuple[str, str]]) -> None:
        """ApiResponse.add_fields, appended unchecked."""
        append_fields(self.headers, fields)

    def get_wsgi_headers(self, environ: Any) -> Headers:
        """Werkzeug's Response.get_wsgi_headers, but its own headers when there is nothing to do.

        Before sending, Werkzeug copies every field (re-checking each) so that it can
        rewrite Location and Content-Location, drop fields on bodiless statuses and
        count a missing Content-Length. A JSON answer has none of that to do.
        """
        status = self.status_code
        if status < 200 or status in NO_BODY:
            return super().get_wsgi_headers(environ)
        length = False
        for key, _ in self.headers:
            name = key.lower()
            if name in _URL_FIELDS:
                return super().get_wsgi_headers(environ)
            length = length or name == "content-length"
        if not length and self.is_sequence:
            return super().get_wsgi_headers(environ)
        return self.headers

    def get_app_iter(self, environ: Any) -> Iterable[bytes]:
        """Werkzeug's Response.get_app_iter, but a body of bytes with nothing to close as is.

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
            and status not in NO_BODY
            and all(type(chunk) is bytes for chunk in body)
        ):
            return body
        return super().get_app_iter(environ)


def install(app: ApiFlask) -> None:
    """Use the fast request and response classes, unless the app chose its own."""
    if app.request_class is ApiRequest:
        app.request_class = FastRequest
    if app.response_class is ApiResponse:
        app.response_class = FastResponse
