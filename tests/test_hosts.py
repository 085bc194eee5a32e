"""Hosts: a forged Host header never reaches an absolute URL (issue 19, finding 8)."""

from __future__ import annotations

import logging
import secrets

import pytest

from myapp import create_app
from myapp.config import ConfigError
from tests.helpers import assert_problem

PASSWORD = "correct horse 7"
PUBLIC = "https://api.example.com"


def sign_up_and_in(client, host):
    """Sign up and in with the given Host header; return (sign-up response, auth header)."""
    body = {"email": "ann@example.com", "name": "Ann", "password": PASSWORD}
    created = client.post("/v1/users", json=body, headers={"Host": host})
    token = client.post(
        "/v1/auth/token",
        json={"email": "ann@example.com", "password": PASSWORD},
        headers={"Host": host},
    ).get_json()["data"]["access_token"]
    return created, {"Authorization": f"Bearer {token}", "Host": host}


def test_trusted_hosts_from_the_environment_is_a_json_list(make_app, monkeypatch):
    monkeypatch.setenv("MYAPP_TRUSTED_HOSTS", '["api.example.com", "localhost"]')
    client = make_app().test_client()

    assert client.get("/health", headers={"Host": "api.example.com"}).status_code == 200
    forged = client.get("/health", headers={"Host": "evil.example"})
    assert_problem(forged, 400)
    assert client.post("/v1/users", json={}, headers={"Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize("text", ["api.example.com", "[1]", '[""]', '{"a": 1}', "[api]"])
def test_a_trusted_hosts_value_that_is_not_a_json_list_stops_start_up(make_app, monkeypatch, text):
    monkeypatch.setenv("MYAPP_TRUSTED_HOSTS", text)
    with pytest.raises(ConfigError, match=r"MYAPP_TRUSTED_HOSTS=.*JSON list"):
        make_app()


@pytest.mark.parametrize(("public", "prefix"), [(PUBLIC, ""), (PUBLIC + "/base/", "/base")])
def test_absolute_urls_come_from_the_public_url_whatever_the_host(make_app, public, prefix):
    client = make_app(PUBLIC_URL=public).test_client()

    created, auth = sign_up_and_in(client, "evil.example")
    client.post("/v1/aliases", json={"target": "me@example.com"}, headers=auth)
    listed = client.get("/v1/aliases?limit=1&enabled=true", headers=auth)

    user_id = created.get_json()["data"]["id"]
    assert created.headers["Location"] == f"{PUBLIC}{prefix}/v1/users/{user_id}"
    links = listed.get_json()["links"]
    assert links["self"] == f"{PUBLIC}{prefix}/v1/aliases?limit=1&enabled=true"
    assert listed.headers["Link"] == f'<{links["self"]}>; rel="self"'
    assert "evil.example" not in str(listed.headers) + listed.get_data(as_text=True)


def test_without_a_public_url_absolute_urls_follow_the_host(make_app):
    created, _ = sign_up_and_in(make_app().test_client(), "api.example.com")
    assert created.headers["Location"].startswith("http://api.example.com/v1/users/")


@pytest.mark.parametrize("url", ["api.example.com", "ftp://api.example.com", f"{PUBLIC}?a=1"])
def test_a_public_url_that_is_not_an_absolute_http_url_stops_start_up(make_app, url):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        make_app(PUBLIC_URL=url)


@pytest.mark.parametrize(
    ("settings", "warned"),
    [({}, True), ({"PUBLIC_URL": PUBLIC}, False), ({"TRUSTED_HOSTS": ["api.example.com"]}, False)],
)
def test_production_start_up_warns_when_neither_is_set(database_url, caplog, settings, warned):
    config = {"SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": database_url}
    with caplog.at_level(logging.WARNING, logger="myapp"):
        create_app({**config, **settings, "ACCESS_LOG": False})
    messages = [r.getMessage() for r in caplog.records if "PUBLIC_URL" in r.getMessage()]
    assert bool(messages) is warned
