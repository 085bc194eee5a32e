"""The app with two slow routes, for drills that need requests to be in flight on cue.

`gunicorn -c gunicorn.conf.py 'drills.slow_app:create_app()'` (or `python serve.py
drills.slow_app:create_app`) serves everything
myapp serves, plus:

- POST /drill/slow {"email", "seconds"?}: waits `seconds` (default
  DRILL_SLOW_SECONDS), then signs the email up through
  myapp.services.users.create_user; 201. (The graceful shutdown drill.)
- GET /drill/slow-read: counts the users, then waits DRILL_SLOW_SECONDS with that
  read's transaction still open; 200. (The database outage drill.)

Each touches a file named after its request id in DRILL_MARKER_DIR once it is
under way, so a drill knows when its requests are in flight. Drills only: it is
never part of the service.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import voluptuous as vol
from flask import current_app
from sqlalchemy import func, select

import myapp
from myapp.core import ApiFlask, ApiResult, Email, Number, current_request_id, dataschema
from myapp.db import get_session
from myapp.models import User
from myapp.services.users import create_user

#: The factory to hand the server.
APP = "drills.slow_app:create_app"
PASSWORD = "gravel lantern 5"


def _in_flight() -> None:
    marker_dir = os.environ.get("DRILL_MARKER_DIR")
    if marker_dir:
        (Path(marker_dir) / current_request_id()).touch()


def _pause(seconds: float | None = None) -> None:
    time.sleep(seconds if seconds is not None else float(os.environ["DRILL_SLOW_SECONDS"]))


@dataschema({"email": Email(), vol.Optional("seconds"): Number(0, 60)})
def slow_signup(data: dict[str, Any]) -> ApiResult:
    """Wait, then create a user; the write happens only after the wait."""
    _in_flight()
    _pause(data.get("seconds"))
    user = create_user(
        get_session(),
        email=data["email"],
        name="Slow",
        password=PASSWORD,
        hash_method=current_app.config["PASSWORD_HASH_METHOD"],
    )
    return ApiResult(user.to_dict(), status=201)


def slow_read() -> ApiResult:
    """Read, then wait with the read's transaction open."""
    users = get_session().scalar(select(func.count()).select_from(User))
    _in_flight()
    _pause()
    return ApiResult({"users": users})


def create_app() -> ApiFlask:
    """myapp's app with the drill routes added."""
    app = myapp.create_app()
    app.add_url_rule("/drill/slow", view_func=slow_signup, methods=["POST"])
    app.add_url_rule("/drill/slow-read", view_func=slow_read, methods=["GET"])
    return app
