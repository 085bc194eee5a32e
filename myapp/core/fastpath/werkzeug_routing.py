"""URL matching with the work Werkzeug 3.1 repeats on every request remembered.

`create_url_adapter` binds the URL map as Flask 3.1's `Flask.create_url_adapter`
and Werkzeug's `Map.bind_to_environ` do, step for step, with the host names worked
out once per host; `StaticRouteAdapter.match` remembers which rule a static route
matched. tests/core/test_fastpaths.py holds both to Flask's and Werkzeug's answers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MethodType
from typing import Any, cast

from flask import Flask, Request
from werkzeug.exceptions import BadHost
from werkzeug.routing import Map, MapAdapter, Rule
from werkzeug.wsgi import get_host

from myapp.core.app import ApiFlask
from myapp.core.routing import ApiMap


class StaticRouteAdapter(MapAdapter):
    """Werkzeug's URL adapter for an ApiMap, remembering which rule a static route matched.

    Matching walks Werkzeug's state machine on every request. For a rule without
    arguments and with its methods listed, the answer to a path and method is fixed
    while the map's rules are: no converter runs, and the host, scheme and query only
    shape redirects, which are raised and never remembered. Only such rules are
    remembered, under the path as Werkzeug normalizes it and the upper-case method,
    so the cache is bounded by the static routes and their methods, whatever paths
    and methods clients send. It is bound only where Werkzeug's match depends on
    nothing else (no host or subdomain matching, no WebSocket); the map empties the
    cache when it gains a rule, and settings such as `strict_slashes` are taken as
    fixed once requests are served.
    """

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: Mapping[str, Any] | str | None = None,
        websocket: bool | None = None,
    ) -> tuple[Any, Mapping[str, Any]]:
        """MapAdapter.match, answering a static route from the map's cache."""
        given = (path_info, method, query_args, websocket)
        if not return_rule or self.websocket or given != (None, None, None, None):
            # Werkzeug's overloads take return_rule as a literal, not a bool.
            answer = super().match(path_info, method, return_rule, query_args, websocket)  # type: ignore[call-overload]
            return cast(tuple[Any, Mapping[str, Any]], answer)
        path = self.path_info
        key = (f"/{path.lstrip('/')}" if path else "", self.default_method.upper())
        matches = cast(ApiMap, self.map).static_matches
        rule: Rule | None = matches.get(key)
        if rule is not None:
            return rule, {}
        rule, args = super().match(return_rule=True)
        if not rule.arguments and rule.methods is not None:
            matches[key] = rule
        return rule, args


def create_url_adapter(app: ApiFlask, request: Request | None) -> MapAdapter | None:
    """Flask.create_url_adapter for a request, with the host worked out once per host.

    For the usual setup (no SERVER_NAME, TRUSTED_HOSTS, host or subdomain
    matching, no WebSocket upgrade) this binds the URL map as Werkzeug's
    `bind_to_environ` would, but takes the host names from `_host_names`;
    anything else goes to Flask.
    """
    config = app.config
    if request is None and config["SERVER_NAME"] is None:
        return None  # nothing to bind to outside a request (every app context asks)
    if (
        request is None
        or config["SERVER_NAME"] is not None
        or config["TRUSTED_HOSTS"] is not None
        or request.trusted_hosts is not None
        or type(app.url_map) not in (Map, ApiMap)  # a custom map may bind differently
        or app.url_map.host_matching
        or app.subdomain_matching
        or "HTTP_UPGRADE" in request.environ
    ):
        return Flask.create_url_adapter(app, request)
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
    adapter = StaticRouteAdapter if type(app.url_map) is ApiMap else MapAdapter
    return adapter(
        app.url_map,
        server_name,
        "/" if script_name is None else script_name,
        app.url_map.default_subdomain or "",
        scheme,
        "/" if path_info is None else path_info,
        environ["REQUEST_METHOD"],
        query,
    )


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


def install(app: ApiFlask) -> None:
    """Bind `create_url_adapter` onto `app`, unless its class overrides Flask's."""
    if type(app).create_url_adapter is Flask.create_url_adapter:
        app.create_url_adapter = MethodType(create_url_adapter, app)  # type: ignore[method-assign]
