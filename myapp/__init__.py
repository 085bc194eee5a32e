"""myapp: a JSON API on Flask. `create_app` builds it; read it as a table of contents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from myapp.config import load_config
from myapp.core import ApiFlask, register_blueprints, register_error_handlers


def create_app(config: Mapping[str, Any] | object | None = None) -> ApiFlask:
    """Build the application: config, error handlers, then the discovered blueprints."""
    app = ApiFlask(__name__, instance_relative_config=True)
    load_config(app, config)
    register_error_handlers(app)
    register_blueprints(app, "myapp.blueprints")
    return app
