"""Blueprint discovery: every module under a package that defines `bp` is registered."""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.utils import find_modules, import_string


def discover_blueprints(package: str, disabled: frozenset[str] = frozenset()) -> list[Blueprint]:
    """Import each module under `package` in sorted order and collect its `bp`.

    Names in `disabled` are module paths relative to the package ("calc",
    "admin.users"); those modules are not even imported. Import errors propagate.
    """
    found = sorted(find_modules(package, include_packages=True, recursive=True))
    prefix = package + "."
    unknown = disabled - {name.removeprefix(prefix) for name in found}
    if unknown:
        raise ValueError(
            f"DISABLED_BLUEPRINTS names modules that do not exist under {package}: "
            f"{', '.join(sorted(unknown))}"
        )
    blueprints = []
    for name in found:
        if name.removeprefix(prefix) in disabled:
            continue
        bp = getattr(import_string(name), "bp", None)
        if bp is None:
            continue
        if not isinstance(bp, Blueprint):
            raise TypeError(f"{name}.bp must be a flask.Blueprint, not {type(bp).__name__}")
        blueprints.append(bp)
    return blueprints


def register_blueprints(app: Flask, package: str) -> None:
    """Register every discovered blueprint that the config does not switch off."""
    disabled = frozenset(app.config["DISABLED_BLUEPRINTS"])
    for bp in discover_blueprints(package, disabled):
        app.register_blueprint(bp)
