"""myapp: a JSON API on Flask. `create_app` builds it; read it as a table of contents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myapp.config import load_config
from myapp.core import ApiFlask, register_blueprints, register_error_handlers
from myapp.core.api import trust_proxy_hops
from myapp.core.ratelimit import register_ratelimit


def create_app(config: Mapping[str, Any] | object | None = None) -> ApiFlask:
    """Build the application: config, proxies, errors, rate limits, then the blueprints."""
    app = ApiFlask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, config)
    trust_proxy_hops(app, app.config["TRUSTED_PROXY_HOPS"])
    register_error_handlers(app)
    register_ratelimit(app)
    register_blueprints(app, "myapp.blueprints")
    return app
