"""Bounded error work: a hostile body gets a small problem (issue 19, finding 2)."""

from __future__ import annotations

import json

import pytest

from myapp.core import String, dataschema, queryschema
from myapp.core.validation import MAX_ERRORS, MAX_NAME
from tests.helpers import assert_problem

KIB = 1024
#: Stray keys in a body just under a mebibyte.
STRAY = 85_000


@pytest.fixture
def client(app):
    @app.post("/things")
    @dataschema({"name": String(1, 10), "kind": String(1, 10)})
    def create_thing(data):
        return data

    @app.get("/things")
    @queryschema({"q": String(1, 10)})
    def find_things(query):
        return query

    return app.test_client()


def test_a_megabyte_of_stray_keys_gets_the_first_fifty_and_the_count(client):
    keys = [f"k{n:05d}" for n in range(STRAY)]
    raw = json.dumps(dict.fromkeys(keys, 1), separators=(",", ":")).encode()
    assert 900 * KIB < len(raw) < 1024 * KIB  # just within MAX_CONTENT_LENGTH

    response = client.post("/things", data=raw, content_type="application/json")

    body = assert_problem(response, 422, "https://myapp.dev/problems/validation-error")
    assert len(response.data) < 64 * KIB
    # Every stray key, and the two missing fields, are counted; the first fifty in order.
    assert body["error_count"] == STRAY + 2
    assert body["detail"] == f"{STRAY + 2} fields are invalid; the first {MAX_ERRORS} are listed."
    assert [e["pointer"] for e in body["errors"]] == [f"#/k{n:05d}" for n in range(MAX_ERRORS)]
    assert all(e["detail"] == "is not allowed" for e in body["errors"])


def test_stray_keys_and_the_known_fields_errors_are_listed_together(client):
    response = client.post("/things", json={"zz": 1, "name": "", "aa": 2})

    body = assert_problem(response, 422, "https://myapp.dev/problems/validation-error")
    assert [(e["pointer"], e["detail"]) for e in body["errors"]] == [
        ("#/aa", "is not allowed"),
        ("#/kind", "is required"),
        ("#/name", body["errors"][2]["detail"]),
        ("#/zz", "is not allowed"),
    ]
    assert body["detail"] == "4 fields are invalid."
    assert "error_count" not in body


def test_a_huge_key_is_cut_in_its_pointer(client):
    response = client.post("/things", json={"x" * 500_000: 1, "name": "n", "kind": "k"})

    body = assert_problem(response, 422, "https://myapp.dev/problems/validation-error")
    [error] = body["errors"]
    assert error["pointer"] == "#/" + "x" * (MAX_NAME - 2) + "..."
    assert len(response.data) < 2 * KIB


def test_a_flood_of_query_parameters_gets_the_first_fifty_and_the_count(client):
    query = "&".join(f"p{n:04d}=1" for n in range(2000))

    response = client.get(f"/things?q=a&{query}")

    body = assert_problem(response, 400, "https://myapp.dev/problems/invalid-parameters")
    assert body["error_count"] == 2000
    assert [e["parameter"] for e in body["errors"]] == [f"p{n:04d}" for n in range(MAX_ERRORS)]
    assert len(response.data) < 64 * KIB


def test_a_valid_body_is_untouched_by_the_shortcut(client):
    response = client.post("/things", json={"name": "n", "kind": "k"})
    assert response.get_json() == {"data": {"name": "n", "kind": "k"}}


class Untouchable:
    """A body stream that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


@pytest.fixture
def small_route(app):
    @app.post("/small")
    @dataschema({"a": int}, max_body=64)
    def small(data):
        """Take one number."""
        return data

    return app


def test_a_body_over_the_routes_own_limit_is_refused_unread(small_route):
    response = small_route.test_client().post(
        "/small",
        content_type="application/json",
        environ_overrides={"wsgi.input": Untouchable(), "CONTENT_LENGTH": str(1024 * KIB)},
    )

    assert_problem(response, 413)


def test_a_streamed_body_past_the_routes_own_limit_is_refused(small_route):
    response = small_route.test_client().post(
        "/small",
        data=json.dumps({"a": 1, "pad": "x" * 200}),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )

    assert_problem(response, 413)


def test_a_body_within_the_routes_own_limit_is_served(small_route):
    response = small_route.test_client().post("/small", json={"a": 1})

    assert response.status_code == 200
    assert response.get_json()["data"] == {"a": 1}


def test_the_routes_own_limit_never_raises_the_apps(make_app):
    app = make_app(MAX_CONTENT_LENGTH=32)

    @app.post("/roomy")
    @dataschema({"a": int}, max_body=4096)
    def roomy(data):
        return data

    response = app.test_client().post("/roomy", json={"a": 1, "pad": "x" * 100})

    assert_problem(response, 413)


def test_the_routes_own_limit_is_in_its_openapi_description(small_route):
    document = small_route.test_client().get("/openapi.json").get_json()

    description = document["paths"]["/small"]["post"]["description"]
    assert "A body over 64 bytes is refused with 413 before it is read." in description
    assert "413" in document["paths"]["/small"]["post"]["responses"]
