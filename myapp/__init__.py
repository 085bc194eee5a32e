"""myapp: a JSON API on Flask. `create_app` builds it; read it as a table of contents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myapp.auth import register_auth
from myapp.cli import register_cli
from myapp.config import load_config, warn_about_hosts
from myapp.core import (
    ApiFlask,
    register_blueprints,
    register_error_handlers,
    register_fast_path,
    trust_proxy_hops,
)
from myapp.core.cors import register_cors
from myapp.core.logs import register_logging
from myapp.core.metrics import register_metrics
from myapp.core.ratelimit import register_ratelimit
from myapp.core.tracing import register_tracing
from myapp.core.watchdog import register_watchdog
from myapp.db import register_database, trace_database
from myapp.idempotency import register_idempotency

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | object | None = None) -> ApiFlask:
    """Build the application: config, logs, proxies, errors, CORS, database (and the
    idempotency keys kept in it), routes, limits, auth, metrics, traces."""
    app = ApiFlask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, config)
    register_logging(app)
    warn_about_hosts(app)
    register_fast_path(app)
    trust_proxy_hops(app, app.config["TRUSTED_PROXY_HOPS"])
    register_watchdog(app)
    register_error_handlers(app)
    register_cors(app)
    register_database(app)
    register_idempotency(app)
    register_cli(app)
    register_blueprints(app, "myapp.blueprints")
    register_ratelimit(app)
    register_auth(app)
    register_metrics(app, __version__)
    register_tracing(app, __version__)
    trace_database(app)
    return app
