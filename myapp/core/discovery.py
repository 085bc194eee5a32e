"""Blueprint discovery: every module under a package that defines `bp` is registered."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec

from flask import Blueprint, Flask
from werkzeug.utils import find_modules, import_string


def _walk(package: str, prefix: str, disabled: frozenset[str]) -> Iterator[str]:
    """Yield module names under `package`, descending only into enabled packages.

    find_modules imports a package to list it, so it walks one level at a time:
    a disabled package is never imported, and nothing beneath it is found.
    """
    for name in sorted(find_modules(package, include_packages=True)):
        if name.removeprefix(prefix) in disabled:
            continue
        yield name
        spec = find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            yield from _walk(name, prefix, disabled)


def discover_blueprints(package: str, disabled: frozenset[str] = frozenset()) -> list[Blueprint]:
    """Import each module under `package` in sorted order and collect its `bp`.

    Names in `disabled` are module paths relative to the package ("calc",
    "admin.users"); those modules, and for a package everything in it, are not
    imported. Import errors propagate.
    """
    prefix = package + "."
    unknown = sorted(name for name in disabled if not _exists(prefix + name, prefix, disabled))
    if unknown:
        raise ValueError(
            f"DISABLED_BLUEPRINTS names modules that do not exist under {package}: "
            f"{', '.join(unknown)}"
        )
    blueprints = []
    for name in _walk(package, prefix, disabled):
        bp = getattr(import_string(name), "bp", None)
        if bp is None:
            continue
        if not isinstance(bp, Blueprint):
            raise TypeError(f"{name}.bp must be a flask.Blueprint, not {type(bp).__name__}")
        blueprints.append(bp)
    return blueprints


def _exists(module: str, prefix: str, disabled: frozenset[str]) -> bool:
    """Whether a module exists, without importing a disabled package to find out."""
    parts = module.removeprefix(prefix).split(".")
    if any(".".join(parts[:i]) in disabled for i in range(1, len(parts))):
        return True  # inside a disabled package: switched off either way
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def register_blueprints(app: Flask, package: str) -> None:
    """Register every discovered blueprint that the config does not switch off."""
    disabled = frozenset(app.config.get("DISABLED_BLUEPRINTS", ()))
    for bp in discover_blueprints(package, disabled):
        app.register_blueprint(bp)
