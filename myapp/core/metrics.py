"""Prometheus metrics at /metrics, summed over every worker of the server.

On only when METRICS_TOKEN is set: then each request is counted by method, URL
rule and status, and timed, after its response is made; the limiter's decisions
and store errors and the database's errors are counted where they happen.
`/metrics` answers only `Authorization: Bearer <METRICS_TOKEN>` (a 401 problem
otherwise, a 404 while metrics are off) and is not in the OpenAPI document.

Under gunicorn or granian every worker is a process of its own. The servers'
configurations (serve.py, gunicorn.conf.py) give them one directory, emptied at
start (`PROMETHEUS_MULTIPROC_DIR`), where prometheus_client's multiprocess mode
keeps each worker's values; a scrape, whichever worker takes it, sums them all.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from myapp.core.errors import Unauthorized
from myapp.core.openapi import documents
from myapp.core.ratelimit import EXTENSION as RATELIMIT
from myapp.core.ratelimit import exempt
from myapp.core.request import api_request, current_api_app

EXTENSION = "metrics"
#: The route label of a request no URL rule matched: one value, never the raw path.
UNMATCHED = "unmatched"
#: Seconds, from a millisecond to ten.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's metrics, in a registry of its own (two apps in one process never mix)."""

    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "http_requests", "Requests answered.", ["method", "route", "status"], registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.ratelimit_decisions = Counter(
            "ratelimit_decisions",
            "Rate-limit checks by policy and outcome (allowed, denied, fail_open, closed).",
            ["policy", "outcome"],
            registry=registry,
        )
        self.ratelimit_store_errors = Counter(
            "ratelimit_store_errors", "Rate-limit store (Redis) errors.", registry=registry
        )
        self.database_errors = Counter(
            "database_errors",
            "Requests answered 503 because of the database, by error class.",
            ["kind"],
            registry=registry,
        )
        info = Gauge(
            "app_info",
            "The running version.",
            ["version"],
            registry=registry,
            multiprocess_mode="max",
        )
        info.labels(version).set(1)
        # Label values -> the metric's child: labels() takes a lock and builds a tuple.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._decisions: dict[tuple[str, str], Any] = {}

    def record(self, response: Response) -> Response:
        """Count and time the request (the app's after-request hook)."""
        current = api_request()
        rule = current.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        key = (current.method, route, response.status_code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(key[0], route, str(key[2])),
                self.duration.labels(key[0], route),
            )
        children[0].inc()
        children[1].observe(current.elapsed())
        return response

    def count_decision(self, policy: str, outcome: str) -> None:
        """Count one rate-limit check (the limiter's `on_decision`)."""
        child = self._decisions.get((policy, outcome))
        if child is None:
            child = self._decisions[policy, outcome] = self.ratelimit_decisions.labels(
                policy, outcome
            )
        child.inc()

    def exposition(self) -> bytes:
        """The text a scrape gets: every worker's values summed, or this process's alone."""
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def current_metrics() -> Metrics | None:
    """The current app's metrics, None when they are off."""
    metrics: Metrics | None = current_api_app().extensions.get(EXTENSION)
    return metrics


@documents(hidden=True, media_type=CONTENT_TYPE_LATEST)
@exempt
def serve_metrics() -> Response:
    """The metrics, for the scraper that has the token (never rate limited: the token is
    compared in constant time, and too long to guess)."""
    app = current_api_app()
    expected = "Bearer " + app.config["METRICS_TOKEN"]
    given = api_request().environ.get("HTTP_AUTHORIZATION", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.")
    metrics: Metrics = app.extensions[EXTENSION]
    return app.response_class(metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask, version: str) -> None:
    """With METRICS_TOKEN set: count every request, and serve /metrics to its holder.

    After register_ratelimit, whose limiter it asks to report its decisions.
    """
    if not app.config["METRICS_TOKEN"]:
        return
    metrics = app.extensions[EXTENSION] = Metrics(version)
    app.after_request(metrics.record)
    app.add_url_rule("/metrics", "metrics", serve_metrics)
    limiter = app.extensions.get(RATELIMIT)
    if limiter is not None:
        limiter.on_decision = metrics.count_decision
        limiter.on_store_error = metrics.ratelimit_store_errors.inc
