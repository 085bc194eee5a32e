"""Liveness (the process answers) and readiness (its dependencies answer too)."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, current_app

from myapp.core import ApiFlask, NotReady, ServiceUnavailable
from myapp.core.openapi import documents
from myapp.core.ratelimit import exempt

bp = Blueprint("health", __name__)


@bp.get("/health")
@documents({"status": "ok"})
@exempt
def health() -> dict[str, str]:
    """Report that the process answers; touches no dependency."""
    return {"status": "ok"}


@bp.get("/health/ready")
@documents({"status": "ready", "checks": {str: str}}, errors=(503,))
@exempt
def ready() -> dict[str, object]:
    """Check every dependency; 503 naming the ones that are down."""
    checks = {}
    for name, check in sorted(cast(ApiFlask, current_app).readiness_checks.items()):
        try:
            check()
        except NotReady as exc:  # it answers, and says why it cannot serve yet
            current_app.logger.warning("readiness: %s is not ready (%s)", name, exc)
            checks[name] = str(exc)
        except Exception as exc:  # any failure means "not ready"; the name is enough
            current_app.logger.warning("readiness: %s is down (%s)", name, type(exc).__name__)
            checks[name] = "down"
        else:
            checks[name] = "ok"
    not_ready = [name for name, state in checks.items() if state != "ok"]
    if not_ready:
        raise ServiceUnavailable(f"Not ready: {', '.join(not_ready)} unavailable.", checks=checks)
    return {"status": "ready", "checks": checks}
