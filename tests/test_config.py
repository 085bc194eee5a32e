"""Configuration: defaults, then MYAPP_* environment variables, then create_app's argument."""

from __future__ import annotations

import logging
import os
import secrets

import pytest

from myapp import create_app
from myapp.config import ConfigError
from tests.helpers import assert_success

STRONG_KEY = secrets.token_urlsafe(32)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No FLASK_DEBUG and no MYAPP_* variable from the surrounding shell leaks in.

    The one variable set keeps these apps off the instance folder's real database.
    """
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    for name in list(os.environ):
        if name.startswith("MYAPP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MYAPP_DATABASE_URL", f"sqlite:///{tmp_path / 'config.sqlite3'}")


@pytest.fixture
def restore_app_logger():
    """Debug apps lower the shared "myapp" logger's level; put it back afterwards."""
    logger = logging.getLogger("myapp")
    level = logger.level
    yield
    logger.setLevel(level)


def test_create_app_without_arguments_in_testing(monkeypatch):
    monkeypatch.setenv("MYAPP_TESTING", "1")

    app = create_app()

    assert app.testing is True
    assert isinstance(app.config["SECRET_KEY"], str)
    assert len(app.config["SECRET_KEY"]) >= 32
    assert assert_success(app.test_client().get("/health")) == {"status": "ok"}


def test_create_app_without_arguments_in_production(monkeypatch):
    monkeypatch.setenv("MYAPP_SECRET_KEY", STRONG_KEY)

    app = create_app()

    assert app.testing is False
    assert app.debug is False
    assert app.config["SECRET_KEY"] == STRONG_KEY
    assert assert_success(app.test_client().get("/health")) == {"status": "ok"}


def test_defaults():
    config = create_app({"TESTING": True}).config

    assert config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert config["JSON_MAX_DEPTH"] == 32
    assert config["PROBLEM_TYPE_BASE"] == "https://myapp.dev/problems/"
    assert config["DISABLED_BLUEPRINTS"] == ()


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("JSON_MAX_DEPTH", "10", 10),
        ("JSON_MAX_DEPTH", " 12 ", 12),
        ("MAX_CONTENT_LENGTH", "2048", 2048),
        ("TESTING", "1", True),
        ("TESTING", "true", True),
        ("TESTING", "YES", True),
        ("TESTING", "On", True),
        ("TESTING", "0", False),
        ("TESTING", "false", False),
        ("TESTING", "no", False),
        ("TESTING", "OFF", False),
        ("DISABLED_BLUEPRINTS", "calc", ["calc"]),
        ("DISABLED_BLUEPRINTS", " calc , health ", ["calc", "health"]),
        ("DISABLED_BLUEPRINTS", "calc,", ["calc"]),
        ("DISABLED_BLUEPRINTS", '["calc"]', ["calc"]),
        ("DISABLED_BLUEPRINTS", "", []),
        ("PROBLEM_TYPE_BASE", "https://errors.example.org/", "https://errors.example.org/"),
    ],
)
def test_environment_values_are_read_as_the_default_type(monkeypatch, name, text, expected):
    monkeypatch.setenv("MYAPP_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv(f"MYAPP_{name}", text)

    app = create_app()

    assert app.config[name] == expected
    assert type(app.config[name]) is type(expected)


def test_environment_switches_off_a_blueprint(monkeypatch):
    monkeypatch.setenv("MYAPP_DISABLED_BLUEPRINTS", "calc")

    app = create_app({"TESTING": True})

    assert "calc" not in app.blueprints
    assert app.test_client().get("/v1/calc/add?a=1&b=2").status_code == 404


def test_unknown_environment_names_are_ignored(monkeypatch):
    monkeypatch.setenv("MYAPP_NOT_A_SETTING", "1")

    app = create_app({"TESTING": True})

    assert "NOT_A_SETTING" not in app.config


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("JSON_MAX_DEPTH", "deep"),
        ("JSON_MAX_DEPTH", "1.5"),
        ("MAX_CONTENT_LENGTH", ""),
        ("MAX_CONTENT_LENGTH", "1MB"),
        ("TESTING", "maybe"),
        ("TESTING", ""),
        ("TESTING", "2"),
        ("DISABLED_BLUEPRINTS", '["calc"'),
        ("DISABLED_BLUEPRINTS", "[1]"),
        ("DISABLED_BLUEPRINTS", '{"calc": true}'),
    ],
)
def test_a_bad_environment_value_is_a_config_error(monkeypatch, name, text):
    monkeypatch.setenv("MYAPP_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv(f"MYAPP_{name}", text)

    with pytest.raises(ConfigError, match=f"MYAPP_{name}="):
        create_app()


def test_the_argument_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("MYAPP_JSON_MAX_DEPTH", "10")
    monkeypatch.setenv("MYAPP_MAX_CONTENT_LENGTH", "2048")

    app = create_app({"TESTING": True, "JSON_MAX_DEPTH": 5})

    assert app.config["JSON_MAX_DEPTH"] == 5
    assert app.config["MAX_CONTENT_LENGTH"] == 2048


def test_the_argument_may_be_an_object(monkeypatch):
    monkeypatch.setenv("MYAPP_JSON_MAX_DEPTH", "10")

    class Settings:
        TESTING = True
        JSON_MAX_DEPTH = 7
        lowercase_is_ignored = 1

    app = create_app(Settings)

    assert app.testing is True
    assert app.config["JSON_MAX_DEPTH"] == 7
    assert "lowercase_is_ignored" not in app.config


def test_the_environment_overrides_the_defaults(monkeypatch):
    monkeypatch.setenv("MYAPP_PROBLEM_TYPE_BASE", "https://errors.example.org/")

    app = create_app({"TESTING": True})

    assert app.config["PROBLEM_TYPE_BASE"] == "https://errors.example.org/"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "dev",
        "secret",
        "changeme",
        "CHANGEME",
        "change-me",
        "development",
        "x" * 31,
        STRONG_KEY[:31],
        "a" * 48,  # long enough, and one character
        "0123456789abcd" * 4,  # 56 characters, 14 different ones
    ],
)
@pytest.mark.parametrize("source", ["argument", "environment"])
def test_production_refuses_a_weak_secret_key(monkeypatch, key, source):
    if source == "environment":
        monkeypatch.setenv("MYAPP_SECRET_KEY", key)
    config = {"SECRET_KEY": key} if source == "argument" else None

    with pytest.raises(ConfigError, match="SECRET_KEY is missing or weak"):
        create_app(config)


def test_the_refusal_says_how_to_set_the_key():
    with pytest.raises(ConfigError) as caught:
        create_app()

    message = str(caught.value)
    assert "SECRET_KEY" in message
    assert "export MYAPP_SECRET_KEY=" in message
    assert "--debug" in message


def test_production_accepts_a_strong_secret_key():
    app = create_app({"SECRET_KEY": STRONG_KEY})

    assert app.config["SECRET_KEY"] == STRONG_KEY


def test_debug_mode_invents_a_secret_key(monkeypatch, restore_app_logger):
    monkeypatch.setenv("FLASK_DEBUG", "1")

    first = create_app()
    second = create_app()

    assert first.debug is True
    assert isinstance(first.config["SECRET_KEY"], str)
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]


def test_debug_from_the_argument_invents_a_secret_key(restore_app_logger):
    app = create_app({"DEBUG": True})

    assert app.debug is True
    assert len(app.config["SECRET_KEY"]) >= 32


def test_testing_keeps_a_given_secret_key():
    app = create_app({"TESTING": True, "SECRET_KEY": "fixed-for-this-test"})

    assert app.config["SECRET_KEY"] == "fixed-for-this-test"
