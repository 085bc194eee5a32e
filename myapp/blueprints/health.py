"""Liveness: the process is up and answering."""

from flask import Blueprint

from myapp.core.ratelimit import exempt

bp = Blueprint("health", __name__)


@bp.get("/health")
@exempt
def health() -> dict[str, str]:
    """Report that the process answers; touches no dependency."""
    return {"status": "ok"}
