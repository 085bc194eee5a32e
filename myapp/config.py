"""Configuration: defaults, then MYAPP_* environment variables, then the factory's argument."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Flask

ENV_PREFIX = "MYAPP_"
_PLACEHOLDER_SECRETS = frozenset({"", "dev", "secret", "changeme", "change-me", "development"})
MIN_SECRET_LENGTH = 32
#: A random key of that length has far more different characters than this.
MIN_SECRET_CHARACTERS = 16


class DefaultConfig:
    """The service's defaults: enough to run the development server with nothing set.

    The API layer's own settings (MAX_CONTENT_LENGTH, JSON_MAX_DEPTH,
    PROBLEM_TYPE_BASE, DISABLED_BLUEPRINTS) default in ApiFlask.default_config.
    """

    SECRET_KEY: str | None = None

    #: "json" (one object a line) or "text"; unset means text in debug, JSON otherwise.
    LOG_FORMAT: str | None = None
    LOG_LEVEL = "INFO"
    #: One line per request: method, path, status, duration, request id, client. In
    #: debug mode the development server writes its own line instead.
    ACCESS_LOG = True
    #: How many reverse proxies in front of the app may set X-Forwarded-For/-Proto.
    TRUSTED_PROXY_HOPS = 0
    #: Seconds a request may run before its worker process is ended and replaced
    #: (myapp/core/watchdog.py); 0 is off. serve.py sets it; gunicorn has its own.
    REQUEST_TIMEOUT = 0.0

    #: Redis, shared by all workers; unset means the in-memory limiter (one process).
    REDIS_URL: str | None = None
    #: Seconds; a hung Redis costs a request at most connect + socket timeout.
    REDIS_CONNECT_TIMEOUT = 0.2
    REDIS_SOCKET_TIMEOUT = 0.2

    RATELIMIT_ENABLED = True
    #: Every route not given its own limit gets this one ("N/unit", ";" between several).
    RATELIMIT_DEFAULT = "300/minute"
    #: With the store down, ordinary routes are served unlimited ...
    RATELIMIT_FAIL_OPEN = True
    #: ... and sensitive (credential) routes answer 503.
    RATELIMIT_SENSITIVE_FAIL_OPEN = False
    #: Seconds to skip a failed store before trying it again.
    RATELIMIT_STORE_RETRY_INTERVAL = 1.0
    RATELIMIT_KEY_PREFIX = "myapp:rl"
    #: Sign-in attempts per client address.
    RATELIMIT_AUTH = "5/minute"
    #: Password attempts per account, from any address: sign-ins (keyed on the
    #: normalised email, whether or not an account has it) and current-password
    #: checks on PATCH /v1/users/me. Every attempt counts, the right password too.
    RATELIMIT_AUTH_ACCOUNT = "20/hour"
    #: Sign-ups per client address.
    RATELIMIT_SIGNUP = "10/hour"

    #: SQLAlchemy URL; unset means a SQLite file in the instance folder.
    DATABASE_URL: str | None = None
    #: Seconds a SQLite writer waits for the lock before the request gets a 503.
    DATABASE_BUSY_TIMEOUT = 5.0
    #: Seconds to wait for a PostgreSQL connection (and for a pooled one).
    DATABASE_CONNECT_TIMEOUT = 3
    #: Seconds a PostgreSQL statement may run before it is cancelled (a 503): well
    #: inside the servers' 30 s request timeout. 0 is no limit.
    DATABASE_STATEMENT_TIMEOUT = 10.0

    #: Bearer tokens live this many seconds.
    TOKEN_TTL = 3600
    #: Live tokens one user may hold; a new sign-in past it revokes the oldest.
    TOKENS_PER_USER = 50
    #: werkzeug's generate_password_hash method; tests use a cheaper scrypt.
    PASSWORD_HASH_METHOD = "scrypt"

    #: Domains aliases may live at; generated addresses use the first.
    ALIAS_DOMAINS: ClassVar[list[str]] = ["alias.example"]
    #: Aliases one user may have.
    ALIAS_QUOTA = 1000

    #: Seconds a keyed request's outcome is kept for its retries (Idempotency-Key).
    IDEMPOTENCY_TTL = 24 * 3600


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says how to fix it."""


def _coerce(name: str, text: str, default: Any) -> Any:
    """Read an environment value as the type of the setting's default."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, (list, tuple)):
            is_json = text.lstrip().startswith(("[", "{"))
            items = json.loads(text) if is_json else text.split(",")
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(text)
            return [item.strip() for item in items if item.strip()]
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name}={text!r} is not a valid {type(default).__name__}"
        ) from None
    return text


# Settings whose default is None but whose value is a list (Flask's TRUSTED_HOSTS:
# None means no check, a list the hosts to allow); their environment value is JSON.
_OPTIONAL_LISTS = frozenset({"TRUSTED_HOSTS"})
_PUBLIC_URL = re.compile(r"https?://[^/?#\s]+(/[^?#\s]*)?")


def _coerce_optional_list(name: str, text: str) -> list[str]:
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise ConfigError(
            f"{ENV_PREFIX}{name}={text!r} is not a JSON list of names: "
            "write it as '[\"api.example.com\"]'"
        )
    return items


def load_config(app: Flask, config: Mapping[str, Any] | object | None) -> None:
    """Layer the defaults, the MYAPP_* environment and the argument onto app.config."""
    app.config.from_object(DefaultConfig)
    for key, default in list(app.config.items()):
        text = os.environ.get(ENV_PREFIX + key)
        if text is None:
            continue
        if key in _OPTIONAL_LISTS:
            app.config[key] = _coerce_optional_list(key, text)
        else:
            app.config[key] = _coerce(key, text, default)
    if isinstance(config, Mapping):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    check_secret_key(app)
    check_metrics_token(app)
    check_public_url(app)
    check_cors_origins(app)
    # Domains compare case-insensitively: stored, matched and generated in lower case.
    app.config["ALIAS_DOMAINS"] = [domain.strip().lower() for domain in app.config["ALIAS_DOMAINS"]]


_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def check_cors_origins(app: Flask) -> None:
    """Refuse a CORS origin that is not exactly scheme://host[:port], as a browser sends it."""
    for origin in app.config["CORS_ORIGINS"]:
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"{ENV_PREFIX}CORS_ORIGINS holds {origin!r}, which is not an origin: write each "
                "as a browser sends it, lower case, with no path or slash: "
                '\'["https://app.example.com", "http://localhost:5173"]\''
            )


def check_public_url(app: Flask) -> None:
    """Refuse a PUBLIC_URL that is not an absolute http(s) URL without query or fragment."""
    url = app.config.get("PUBLIC_URL")
    if url is not None and not _PUBLIC_URL.fullmatch(url):
        raise ConfigError(
            f"{ENV_PREFIX}PUBLIC_URL={url!r} is not an absolute http(s) URL: "
            "write it as https://api.example.com (a path prefix may follow)"
        )


def warn_about_hosts(app: Flask) -> None:
    """In production, say so when absolute URLs would follow whatever Host a client sends."""
    config = app.config
    if app.debug or app.testing or config["PUBLIC_URL"] or config["TRUSTED_HOSTS"] is not None:
        return
    app.logger.warning(
        "neither %sPUBLIC_URL nor %sTRUSTED_HOSTS is set: Location and Link URLs are "
        "built from the request's Host header, which a client chooses; set one of them",
        ENV_PREFIX,
        ENV_PREFIX,
    )


def _guessable(secret: object) -> bool:
    """Whether a secret is not a string of enough random characters."""
    return (
        not isinstance(secret, str)
        or secret.lower() in _PLACEHOLDER_SECRETS
        or len(secret) < MIN_SECRET_LENGTH
        or len(set(secret)) < MIN_SECRET_CHARACTERS  # "a" * 48 is long, and guessable
    )


def check_metrics_token(app: Flask) -> None:
    """Refuse a METRICS_TOKEN easy to guess: /metrics is never rate limited."""
    token = app.config["METRICS_TOKEN"]
    if token and _guessable(token):
        raise ConfigError(
            f"METRICS_TOKEN needs at least {MIN_SECRET_LENGTH} random characters, for example:\n"
            f"  export {ENV_PREFIX}METRICS_TOKEN=\"$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')\""
        )


def check_secret_key(app: Flask) -> None:
    """Refuse a missing or weak SECRET_KEY outside debug and testing; invent one inside them.

    The `flask` command's own work (its help, init-db, routes, create-user) signs
    nothing, so there a missing key is invented too: `flask --app myapp --help`
    must list the commands on any machine. A weak key given is refused everywhere.
    """
    key = app.config.get("SECRET_KEY")
    if key and (app.debug or app.testing):
        return
    from_cli = os.environ.get("FLASK_RUN_FROM_CLI") == "true"  # set by the flask command
    if app.debug or app.testing or (from_cli and not key):
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
        return
    if _guessable(key):
        raise ConfigError(
            f"SECRET_KEY is missing or weak (it needs at least {MIN_SECRET_LENGTH} random "
            "characters). Set it in the environment, for example:\n"
            f"  export {ENV_PREFIX}SECRET_KEY=\"$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')\"\n"
            "or run the development server with --debug."
        )
