"""Structured logs: one JSON line per request, errors with traceback and request id.

Records are handed to a queue and formatted and written by a background thread,
so a request pays for putting a record on a queue, not for JSON encoding or I/O.
Nothing that can carry a secret is logged: no headers, no query string, no body.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import time
from logging.handlers import QueueHandler, QueueListener
from typing import Any, NamedTuple

from flask import Flask, Response, has_request_context

from myapp.core.request import api_request
from myapp.core.tracing import trace_fields

ACCESS_LOGGER = "myapp.access"  # a child of the app's logger ("myapp")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


# One encoder for every line: json.dumps would build a new one per call.
_ENCODER = json.JSONEncoder(default=str)


def _timestamp(created: float, msecs: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class RequestIdFilter(logging.Filter):
    """Stamp records made while handling a request with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = api_request().request_id
        return True


class _DeferredQueueHandler(QueueHandler):
    """A QueueHandler that leaves formatting to the listener thread."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:  # resolve now: the arguments may change once the request ends
            record.msg, record.args = record.getMessage(), None
        return record


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to whatever sys.stderr is when a record is written, not when made."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class AccessEntry(NamedTuple):
    """What a request leaves for its access line; the writer thread makes the record."""

    created: float
    method: str
    path: str
    status: int
    duration_ms: float
    client: str | None
    request_id: str
    #: trace_id, and parent_span_id or span_id or both (myapp.core.tracing); often none.
    trace: dict[str, str] | None


def _access_parts(entry: AccessEntry) -> tuple[float, str, dict[str, Any]]:
    """The entry's time, its message, and its other fields (the line's extras)."""
    fields = entry._asdict()
    created: float = fields.pop("created")
    trace = fields.pop("trace")
    if trace is not None:
        fields.update(trace)
    return created, f"{entry.method} {entry.path} {entry.status}", fields


def access_record(entry: AccessEntry) -> logging.LogRecord:
    """The access entry as the log record the configured formatter turns into a line."""
    created, message, fields = _access_parts(entry)
    return logging.makeLogRecord(
        {
            "name": ACCESS_LOGGER,
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": message,
            "created": created,
            "msecs": (created % 1) * 1000,
            **fields,
        }
    )


def access_json(entry: AccessEntry) -> str:
    """The line JsonFormatter writes for `access_record(entry)`, built directly.

    An access line is written for every request, and a LogRecord plus the
    formatter's walk over its attributes cost three times the line itself.
    """
    created, message, fields = _access_parts(entry)
    return _ENCODER.encode(
        {
            "ts": _timestamp(created, (created % 1) * 1000),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": message,
            **fields,
        }
    )


class _Listener(QueueListener):
    """Writes queued records, turning access entries into lines here, off the request."""

    def __init__(self, records: queue.SimpleQueue[Any], output: _StderrHandler) -> None:
        super().__init__(records, output)
        #: The queue requests put on (typed, unlike QueueListener.queue).
        self.records = records
        self.output = output
        # JSON access lines come ready-made: written by a handler that adds nothing.
        self.lines = _StderrHandler()
        self.lines.setFormatter(logging.Formatter("%(message)s"))

    def handle(self, record: Any) -> None:
        if not isinstance(record, AccessEntry):
            super().handle(record)
        elif isinstance(self.output.formatter, JsonFormatter):
            self.lines.handle(logging.makeLogRecord({"msg": access_json(record)}))
        else:
            super().handle(access_record(record))


_listener: _Listener | None = None


def stop_logging() -> None:
    """Write out every queued record and stop the writer thread (at exit, or in tests)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def _start_listener(formatter: logging.Formatter) -> logging.Handler:
    global _listener
    stop_logging()
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    output = _StderrHandler()
    output.setFormatter(formatter)
    _listener = _Listener(records, output)
    _listener.start()
    return _DeferredQueueHandler(records)


atexit.register(stop_logging)


def log_request(response: Response) -> Response:
    """Queue the request's access line: a tuple now, a formatted record on the writer thread."""
    if _listener is not None:
        current = api_request()
        _listener.records.put(
            AccessEntry(
                time.time(),
                current.method,
                current.path,
                response.status_code,
                round(current.elapsed() * 1000, 2),
                current.remote_addr,
                current.request_id,
                trace_fields(current),
            )
        )
    return response


def register_logging(app: Flask) -> None:
    """Send the app's and the access logs to stderr as JSON (text in debug).

    In debug mode the development server writes a line for each request itself, so
    the app writes none, and the server's lines go through the same writer as the
    app's, whole lines one after another.
    """
    json_format = (app.config["LOG_FORMAT"] or ("text" if app.debug else "json")) == "json"
    formatter = (
        JsonFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    handler = _start_listener(formatter)
    handler.addFilter(RequestIdFilter())
    # One handler on the app's logger; the access logger is its child and propagates to it.
    logger = app.logger
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _DeferredQueueHandler)]
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    # Flask's own stderr handler would print every record a second time.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    if app.debug:
        server_logger = logging.getLogger("werkzeug")
        server_logger.handlers = [handler]
        server_logger.setLevel(logging.INFO)
        server_logger.propagate = False
    elif app.config["ACCESS_LOG"]:
        app.after_request(log_request)
