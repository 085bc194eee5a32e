"""CORS: browser apps on the origins in CORS_ORIGINS may call the API.

Our own short module rather than flask-cors: the rules fit in one hook, and the
headers must reach every answer, a 404, a 429 or a 500 as much as a success,
which is where flask-cors's reported bugs were (its issues 67 and 262). The hook
is registered before any other before-request hook (create_app calls
register_cors first) and puts the headers into `request.response_headers`, which
`ApiFlask.finish_response` writes on whatever response the request ends with.

- Origins match exactly (scheme, host, port); there is no wildcard.
- Bearer tokens only: no `Access-Control-Allow-Credentials`, so no cookies.
- A preflight (OPTIONS with `Access-Control-Request-Method`) on a route gets the
  route's 204 answer (Flask's automatic OPTIONS) with the methods the path takes,
  the request headers clients may send, and how long the browser may keep it.
  It counts against the default rate limit like any request, never a route's own
  (a sign-in's preflight must not use up a sign-in attempt).
- Every response says `Vary: Origin` while CORS is on, so no cache hands one
  origin's answer to another.
"""

from __future__ import annotations

from flask import Flask

from myapp.core.request import api_request, current_api_app

#: Response headers a browser app may read (beyond the CORS-safelisted ones).
EXPOSED = (
    "ETag",
    "Idempotent-Replayed",
    "Link",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-ID",
)
#: Request headers a browser app may send (beyond the CORS-safelisted ones).
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
)


def register_cors(app: Flask) -> None:
    """Answer cross-origin requests from CORS_ORIGINS; nothing at all when it is empty."""
    allowed = frozenset(app.config["CORS_ORIGINS"])
    if not allowed:
        return
    exposed = ", ".join(EXPOSED)
    preflight = [
        ("Access-Control-Allow-Headers", ", ".join(ALLOWED_HEADERS)),
        ("Access-Control-Max-Age", str(int(app.config["CORS_MAX_AGE"]))),
        ("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]

    def add_cors_headers() -> None:
        current = api_request()
        environ = current.environ
        fields = current.response_headers
        fields.append(("Vary", "Origin"))
        origin = environ.get("HTTP_ORIGIN")
        if origin is None or origin not in allowed:
            return
        fields += [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", exposed),
        ]
        if (
            current.method == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
            and current.url_rule is not None
        ):
            methods = current_api_app().url_map.bind_to_environ(environ).allowed_methods()
            fields.append(("Access-Control-Allow-Methods", ", ".join(sorted(methods))))
            fields += preflight

    app.before_request(add_cors_headers)
