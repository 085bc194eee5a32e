"""@deprecated: a route says it is going away (RFC 9745, RFC 8594), then goes.

A deprecated route answers as before, every answer carrying
`Deprecation: @<epoch seconds>`, `Sunset: <HTTP-date>` when it has one, and
`Link: <url>; rel="deprecation"` when it names a page; its operation is
`deprecated: true` in the OpenAPI document. From its sunset on, it answers a 410
problem instead, unless SERVE_AFTER_SUNSET keeps it serving for a while longer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint
from werkzeug.http import http_date

from myapp.core.errors import ApiException
from myapp.core.request import api_request, current_api_app

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", bound=Callable[..., Any] | Blueprint)


class RouteRetired(ApiException):
    """The route's sunset has passed."""

    status = 410
    title = "Route retired"
    type = "route-retired"


def _aware(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Deprecation:
    """When a route was deprecated, when it stops, and where to read about it."""

    since: datetime
    sunset: datetime | None = None
    link: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        """The header fields every answer of the route carries."""
        fields = [("Deprecation", f"@{int(self.since.timestamp())}")]
        if self.sunset is not None:
            fields.append(("Sunset", http_date(self.sunset)))
        if self.link is not None:
            fields.append(("Link", f'<{self.link}>; rel="deprecation"'))
        return fields

    def check(self) -> None:
        """Add the headers to this request's answer; 410 once the sunset has passed."""
        current = api_request()
        current.response_headers.extend(self.headers())
        if (
            self.sunset is not None
            and datetime.now(UTC) >= self.sunset
            and not current_api_app().config["SERVE_AFTER_SUNSET"]
        ):
            where = f" See {self.link}." if self.link else ""
            raise RouteRetired(f"This route was retired on {http_date(self.sunset)}.{where}")


def deprecated(
    *, since: datetime, sunset: datetime | None = None, link: str | None = None
) -> Callable[[T], T]:
    """Mark a view, or every view of a blueprint, as deprecated (naive datetimes are UTC).

    On a view, put it right under `@documents`, so that even a request the view's
    other decorators refuse (a 401, a 422) is told the route is going.
    """
    if sunset is not None and _aware(sunset) <= _aware(since):
        raise ValueError("a route's sunset comes after its deprecation")
    notice = Deprecation(_aware(since), sunset and _aware(sunset), link)

    def decorator(target: T) -> T:
        if isinstance(target, Blueprint):
            target.before_request(notice.check)
            target.deprecation = notice  # type: ignore[attr-defined]
            return target

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            notice.check()
            return target(*args, **kwargs)

        wrapper.deprecation = notice  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def deprecation_of(app: Any, endpoint: str) -> Deprecation | None:
    """The deprecation of an endpoint's view, or of its blueprint, if either has one."""
    notice: Deprecation | None = getattr(app.view_functions[endpoint], "deprecation", None)
    if notice is None and "." in endpoint:
        blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
        notice = getattr(blueprint, "deprecation", None)
    return notice
