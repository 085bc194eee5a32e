"""Liveness: the process is up and answering."""

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> dict[str, str]:
    """Report that the process answers; touches no dependency."""
    return {"status": "ok"}
