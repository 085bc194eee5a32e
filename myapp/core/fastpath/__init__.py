"""The guarded fast path: speed-ups that reach into Flask, Werkzeug, voluptuous and redis-py.

Every override here copies a library's method step for step, or reads a name the
library keeps private, and each says which one and for which version. Such code
breaks when the library changes, so it is used only where the installed version
is one it was verified against (VERIFIED) and the app's FAST_PATH setting is on.
Anywhere else the app runs the libraries' own code, slower and with the same
answers, after one warning at start-up. The tox env `stock` runs the whole suite
with the fast path off; tests/core/test_fastpaths.py and test_cycle.py hold each
item to the stock code it replaces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from myapp.core.limiter_backends import RedisBackend

if TYPE_CHECKING:
    from myapp.core.app import ApiFlask

#: Per library: the lowest version the fast path was verified against, and the
#: first it was not (the next minor release, which may change what it mirrors).
VERIFIED: dict[str, tuple[str, str]] = {
    "flask": ("3.1.3", "3.2"),  # RequestContext._session is new in 3.1.3
    "werkzeug": ("3.1.0", "3.2"),
    "voluptuous": ("0.15.0", "0.17"),
    "redis": ("8.0.0", "8.3"),
}

#: A voluptuous schema's plan: its answer for a valid value, else it raises Miss.
Check = Callable[[Any], Any]


class Miss(Exception):
    """The plan cannot vouch for this value: run the schema itself."""


@functools.cache
def installed_versions() -> dict[str, str]:
    """The installed version of each library the fast path reaches into."""
    return {name: version(name) for name in VERIFIED}


def unverified(versions: dict[str, str]) -> dict[str, str]:
    """The libraries among `versions` outside the range the fast path was verified against."""
    outside = {}
    for name, installed in versions.items():
        low, high = (Version(bound) for bound in VERIFIED[name])
        found = Version(installed)
        # By release number at the top, so that 3.2.0.dev0, which sorts before 3.2,
        # counts as the 3.2 it leads to.
        if not (low <= found and found.release < high.release):
            outside[name] = installed
    return outside


def verified_libraries() -> frozenset[str]:
    """The libraries whose installed versions the fast path was verified against."""
    versions = installed_versions()
    return frozenset(versions.keys() - unverified(versions).keys())


def register_fast_path(app: ApiFlask, versions: dict[str, str] | None = None) -> None:
    """Install the fast path for every verified library, unless FAST_PATH is off.

    `versions` stands in for the installed versions (tests of the guard).
    """
    if not app.config["FAST_PATH"]:
        return
    versions = installed_versions() if versions is None else versions
    outside = unverified(versions)
    if outside:
        ranges = ", ".join(
            f"{name} {found} (verified: >={VERIFIED[name][0]},<{VERIFIED[name][1]})"
            for name, found in sorted(outside.items())
        )
        app.logger.warning(
            "fast path off for %s; the stock code paths serve instead (slower, same answers)",
            ranges,
        )
    enabled = frozenset(versions.keys() - outside.keys())
    # Imported only here: they import names the unverified versions may not have.
    if "flask" in enabled:
        from myapp.core.fastpath import flask_cycle

        flask_cycle.install(app)
    if {"flask", "werkzeug"} <= enabled:
        from myapp.core.fastpath import werkzeug_routing, werkzeug_wrappers

        werkzeug_wrappers.install(app)
        werkzeug_routing.install(app)
    app.fast_path = enabled


def schema_plan(schema: Any) -> Check | None:
    """The schema's plan (voluptuous_plans.plan); None for an unverified voluptuous."""
    if "voluptuous" not in verified_libraries():
        return None
    from myapp.core.fastpath.voluptuous_plans import plan

    return plan(schema)


def schema_explanation(schema: Any) -> Callable[[Any], list[tuple[list[Any], str]] | None] | None:
    """What voluptuous_plans.explanation gives; None for an unverified voluptuous."""
    if "voluptuous" not in verified_libraries():
        return None
    from myapp.core.fastpath.voluptuous_plans import explanation

    return explanation(schema)


def redis_backend_class(app: ApiFlask) -> type[RedisBackend]:
    """The Redis limiter backend for this app: EvalshaRedisBackend where redis-py is verified."""
    if "redis" not in app.fast_path:
        return RedisBackend
    from myapp.core.fastpath.redis_evalsha import EvalshaRedisBackend

    return EvalshaRedisBackend
