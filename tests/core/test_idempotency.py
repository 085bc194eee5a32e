"""@idempotent on its own: the header, the fingerprint, whose key it is, what is kept.

A route defined here counts its runs, so a test can tell a replay from a second run
without a domain table; the outcomes still live in the app's database.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from myapp.core import ApiResult, Conflict, api_request, dataschema, documents
from myapp.core.idempotency import (
    REPLAYED,
    ReplayedResult,
    fingerprint,
    idempotency_key,
    idempotent,
)
from myapp.db import get_engine
from myapp.models import IdempotencyRecord
from tests.helpers import assert_problem, assert_standard_headers, assert_success, signed_up

TYPE_BASE = "https://myapp.dev/problems/"
PASSWORD = "orchid mantle 91"


@pytest.fixture
def runs():
    """How many times the test route's view ran, and what it should do on the next run."""
    return {"count": 0, "fail": None}


@pytest.fixture
def app(make_app, runs):
    """The app with an anonymous idempotent route that counts its runs."""
    built = make_app(RATELIMIT_DEFAULT="1000/minute")

    @built.post("/things")
    @documents({"name": str, "run": int}, status=201)
    @dataschema({"name": str})
    @idempotent
    def make_thing(data):
        """A creating POST open to anyone."""
        if runs["fail"] is not None:
            raise runs["fail"]
        runs["count"] += 1
        return ApiResult({"name": data["name"], "run": runs["count"]}, 201, {"Location": "/x"})

    return built


def records(app):
    with Session(get_engine(app)) as session:
        return session.scalar(select(func.count()).select_from(IdempotencyRecord))


def post(client, key, body=None, address="10.0.0.1", **headers):
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        "/things",
        json={"name": "a"} if body is None else body,
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("abc", "abc"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"abc"', "abc"),
        ('"with,comma"', "with,comma"),
        (r'"a\"b\\c"', 'a"b\\c'),
        ("x" * 255, "x" * 255),
        ('"' + "x" * 255 + '"', "x" * 255),
        ("!#$%&'*+-.^_`|~:;=?@[]{}/<>", "!#$%&'*+-.^_`|~:;=?@[]{}/<>"),
    ],
)
def test_a_key_is_bare_or_a_quoted_string(app, given, key):
    with app.test_request_context("/things", method="POST", headers={"Idempotency-Key": given}):
        assert idempotency_key(api_request()) == key


@pytest.mark.parametrize(
    "given",
    [
        "",
        '""',
        "x" * 256,
        '"' + "x" * 256 + '"',
        "two words",
        '"two words"',
        "a,b",
        '"open',
        'a"b',
        "back\\slash",
        r'"bad \n escape"',
        '"a";param=1',
        "caf\u00e9",
        "tab\there",
    ],
)
def test_a_malformed_key_is_a_400_naming_the_header(app, runs, given):
    environ = {"HTTP_IDEMPOTENCY_KEY": given, "REMOTE_ADDR": "10.0.0.1"}

    response = app.test_client().post("/things", json={"name": "a"}, environ_base=environ)

    body = assert_problem(response, 400, TYPE_BASE + "idempotency-key-invalid")
    assert body["errors"] == [
        {
            "header": "Idempotency-Key",
            "detail": "must be 1 to 255 visible ASCII characters, bare or in double quotes",
        }
    ]
    assert runs["count"] == 0
    assert records(app) == 0


def test_without_a_key_the_view_runs_every_time_and_nothing_is_kept(app, client):
    answers = [post(client, None) for _ in range(2)]

    assert [assert_success(a, 201)["run"] for a in answers] == [1, 2]
    assert all(REPLAYED not in a.headers for a in answers)
    assert records(app) == 0


def test_a_retry_gets_the_first_answer_again_with_a_fresh_request_id(app, client, runs):
    first = post(client, "k1")
    again = post(client, "k1")

    assert assert_success(first, 201) == {"name": "a", "run": 1}
    assert again.status_code == 201
    assert again.data == first.data
    assert again.headers["Location"] == first.headers["Location"] == "/x"
    assert again.headers[REPLAYED] == "true"
    assert REPLAYED not in first.headers
    assert assert_standard_headers(again) != assert_standard_headers(first)
    assert runs["count"] == 1


def test_the_same_body_spaced_and_ordered_differently_is_the_same_request(app, client, runs):
    first = client.post(
        "/things",
        data=b'{"name": "a", "extra": [1, 2]}',
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )
    again = client.post(
        "/things",
        data=b'{ "extra":[1,2],"name":"a" }',
        content_type="application/json",
        headers={"Idempotency-Key": '"k"'},  # the quoted form of the same key
    )

    # The schema refuses "extra": nothing ran and nothing was kept, both times.
    assert first.status_code == again.status_code == 422
    assert runs["count"] == 0
    first = post(client, "k2", {"name": "é"})
    again = client.post(
        "/things",
        data=b'{"name":"\\u00e9"}',
        content_type="application/json",
        headers={"Idempotency-Key": "k2"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert again.headers[REPLAYED] == "true"
    assert again.data == first.data
    assert runs["count"] == 1


def test_the_same_key_with_another_body_is_a_422_and_nothing_runs(app, client, runs):
    post(client, "k1")

    other = post(client, "k1", {"name": "b"})

    assert_problem(other, 422, TYPE_BASE + "idempotency-key-reused")
    assert runs["count"] == 1


def test_the_fingerprint_tells_method_path_query_and_body_apart(app):
    def of(path, method="POST", body=b'{"a":1}', query=""):
        with app.test_request_context(
            path, method=method, data=body, query_string=query, content_type="application/json"
        ):
            return fingerprint(api_request())

    same = of("/things")
    assert of("/things", body=b'{ "a" : 1 }') == same
    assert of("/things", body=b'{"a":1.0}') != same
    assert of("/things", method="PUT") != same
    assert of("/other") != same
    assert of("/things", query="x=1") != same
    assert of("/things", body=b'{"a":2}') != same
    assert of("/things", body=b"") != same


def test_a_key_belongs_to_the_client_address_on_an_anonymous_route(app, client, runs):
    mine = post(client, "shared", address="10.0.0.1")
    theirs = post(client, "shared", address="10.0.0.2")
    mine_again = post(client, "shared", address="10.0.0.1")

    assert assert_success(mine, 201)["run"] == 1
    assert assert_success(theirs, 201)["run"] == 2
    assert REPLAYED not in theirs.headers
    assert mine_again.headers[REPLAYED] == "true"
    assert mine_again.data == mine.data
    # And a different body from another address is that address's own first request.
    assert post(client, "shared", {"name": "b"}, address="10.0.0.3").status_code == 201


def test_a_signed_in_caller_keeps_their_key_whatever_the_address(app, client, runs):
    def token(email):
        return signed_up(client, email, PASSWORD)["Authorization"]

    ann, bob = token("ann@example.com"), token("bob@example.com")

    first = post(client, "k", address="10.0.0.1", Authorization=ann)
    moved = post(client, "k", address="10.0.0.9", Authorization=ann)
    bobs = post(client, "k", address="10.0.0.1", Authorization=bob)

    assert moved.headers[REPLAYED] == "true"
    assert moved.data == first.data
    assert REPLAYED not in bobs.headers
    assert runs["count"] == 2


def test_a_problem_is_not_kept_and_the_retry_runs_again(app, client, runs):
    runs["fail"] = Conflict("Not now.")
    refused = post(client, "k")
    runs["fail"] = None
    retried = post(client, "k")

    assert_problem(refused, 409, TYPE_BASE + "conflict")
    assert assert_success(retried, 201)["run"] == 1
    assert REPLAYED not in retried.headers


def test_a_server_error_is_not_kept_and_the_retry_runs_again(app, client, runs):
    runs["fail"] = RuntimeError("boom")
    failed = post(client, "k")
    assert records(app) == 0
    runs["fail"] = None
    retried = post(client, "k")

    assert_problem(failed, 500)
    assert assert_success(retried, 201)["run"] == 1
    assert records(app) == 1


def test_a_view_called_directly_returns_the_replay_as_a_result(app, runs):
    view = app.view_functions["make_thing"]
    context = {"method": "POST", "json": {"name": "a"}, "headers": {"Idempotency-Key": "k"}}

    with app.test_request_context("/things", **context):
        first = view()
    with app.test_request_context("/things", **context):
        again = view()

    assert isinstance(again, ReplayedResult)
    assert (
        (again.status, again.value) == (first.status, first.value) == (201, {"name": "a", "run": 1})
    )
    assert again.headers[REPLAYED] == "true"
    assert again.headers["Location"] == "/x"
    assert again.envelope() == first.envelope()


def test_the_document_describes_the_header_and_its_problems(app):
    document = app.test_client().get("/openapi.json").get_json()
    keyed = document["paths"]["/things"]["post"]
    created = document["paths"]["/v1/aliases"]["post"]
    others = [document["paths"][path]["post"] for path in ("/v1/users", "/v1/auth/token")]

    for operation in (keyed, created):
        (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert header["required"] is False
        assert header["schema"]["maxLength"] == 257
        responses = operation["responses"]
        assert responses["409"] == {"$ref": "#/components/responses/IdempotentConflict"}
        assert responses["422"] == {"$ref": "#/components/responses/IdempotentUnprocessable"}
        assert REPLAYED in responses["201"]["headers"]
    for operation in others:
        assert "Idempotency-Key" not in [p["name"] for p in operation.get("parameters", [])]
    conflict = document["components"]["responses"]["IdempotentConflict"]
    assert "Retry-After" in conflict["headers"]
    assert "still running" in conflict["description"]
    assert (
        "different request"
        in document["components"]["responses"]["IdempotentUnprocessable"]["description"]
    )
