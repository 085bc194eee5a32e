"""The core's ETag helpers and signed cursors, on throwaway routes as any blueprint uses them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import voluptuous as vol

from myapp.core import ApiResult, InvalidParameters, String, queryschema
from myapp.core.conditional import conditional, etag_of, require_match, with_etag
from myapp.core.pagination import CURSOR_QUERY, CursorResult, decode_cursor, encode_cursor
from tests.helpers import (
    assert_conditional,
    assert_problem,
    assert_success,
)

THING = {"id": 1, "name": "thing", "tags": ["a", "b"]}
INVALID_PARAMETERS = "https://myapp.dev/problems/invalid-parameters"


def parse_link_header(value):
    """An RFC 8288 Link header as {rel: url}."""
    links = {}
    for part in value.split(", "):
        url, rel = part.split("; ")
        links[rel.removeprefix('rel="').removesuffix('"')] = url.removeprefix("<").removesuffix(">")
    return links


def query_of(url, path="/things"):
    """The query of an absolute URL on the test server, one value per name."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", path)
    query = parse_qs(parts.query)
    assert all(len(values) == 1 for values in query.values())
    return {name: values[0] for name, values in query.items()}


def assert_cursor_error(response):
    """A 400 naming exactly the cursor parameter."""
    body = assert_problem(response, 400, INVALID_PARAMETERS)
    assert [error["parameter"] for error in body["errors"]] == ["cursor"]
    assert body["errors"][0]["detail"]
    return body


# -- etag_of ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"a": 1}, {"a": 1}),
        ([1, 2, 3], [1, 2, 3]),
        ({"name": "é", "n": None}, {"name": "é", "n": None}),
        ("text", "text"),
    ],
)
def test_etag_of_is_stable_for_equal_values(first, second):
    assert etag_of(first) == etag_of(second)
    assert etag_of(first) == etag_of(first)
    assert '"' not in etag_of(first)
    assert etag_of(first).isalnum()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"a": 1}, {"a": 2}),
        ({"a": 1}, {"b": 1}),
        ({"a": True}, {"a": 1}),
        ({"a": "1"}, {"a": 1}),
        ([1, 2], [2, 1]),
        ({"a": None}, {}),
        ({"a": ""}, {"a": " "}),
    ],
)
def test_etag_of_differs_for_different_values(first, second):
    assert etag_of(first) != etag_of(second)


def test_with_etag_quotes_a_strong_tag_and_keeps_status_and_headers():
    result = with_etag(THING, status=201, headers={"Location": "http://x/1"})

    assert result.value == THING
    assert result.status == 201
    assert result.headers["Location"] == "http://x/1"
    assert result.headers["ETag"] == f'"{etag_of(THING)}"'


# -- conditional() and require_match() --------------------------------------------------------


@pytest.fixture
def thing_client(app):
    """A throwaway resource: GET with conditional(), PATCH and DELETE with require_match()."""
    state = {"value": dict(THING)}

    @app.get("/thing")
    def get_thing():
        return conditional(state["value"])

    @app.patch("/thing")
    def patch_thing():
        require_match(state["value"])
        state["value"] = {**state["value"], "name": "changed"}
        return with_etag(state["value"])

    @app.delete("/thing")
    def delete_thing():
        require_match(state["value"])
        state["value"] = None
        return ApiResult(None, status=204)

    client = app.test_client()
    client.state = state
    return client


def test_conditional_sends_a_strong_etag(thing_client):
    response = thing_client.get("/thing")

    assert assert_success(response) == THING
    assert response.headers["ETag"] == f'"{etag_of(THING)}"'
    assert not response.headers["ETag"].startswith("W/")


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (None, 200),
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"nope", {etag}', 304),
        ('W/"nope", W/{etag}', 304),
        ("*", 304),
        ('"nope"', 200),
        ('W/"nope"', 200),
        ('"{bare}x"', 200),
    ],
)
def test_conditional_if_none_match(thing_client, if_none_match, status):
    etag = f'"{etag_of(THING)}"'
    headers = {}
    if if_none_match is not None:
        headers["If-None-Match"] = if_none_match.format(etag=etag, bare=etag_of(THING))

    response = thing_client.get("/thing", headers=headers)

    assert_conditional(response, status, etag, THING)


@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        (None, 200),
        ("{etag}", 200),
        ('"nope", {etag}', 200),
        ("*", 200),
        ('"nope"', 412),
        ("W/{etag}", 412),
    ],
)
def test_require_match_on_patch(thing_client, if_match, status):
    etag = f'"{etag_of(THING)}"'
    headers = {}
    if if_match is not None:
        headers["If-Match"] = if_match.format(etag=etag, bare=etag_of(THING))

    response = thing_client.patch("/thing", headers=headers)

    if status == 200:
        assert assert_success(response)["name"] == "changed"
        assert response.headers["ETag"] == f'"{etag_of(thing_client.state["value"])}"'
        assert response.headers["ETag"] != etag
    else:
        body = assert_problem(response, 412)
        assert body["title"] == "Precondition Failed"
        assert thing_client.state["value"] == THING


def test_require_match_after_a_change_refuses_the_old_tag(thing_client):
    old = thing_client.get("/thing").headers["ETag"]
    new = thing_client.patch("/thing", headers={"If-Match": old}).headers["ETag"]

    stale = thing_client.delete("/thing", headers={"If-Match": old})
    kept = thing_client.state["value"]
    current = thing_client.delete("/thing", headers={"If-Match": new})

    assert_problem(stale, 412)
    assert kept["name"] == "changed"
    assert current.status_code == 204
    assert current.data == b""
    assert thing_client.state["value"] is None


# -- cursors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "position",
    [["2024-05-01T12:00:00", 42], ["2024-05-01T12:00:00.123456", 2**63 - 1], [], ["é", None, 1.5]],
)
def test_a_cursor_round_trips_and_is_opaque(app, position):
    with app.test_request_context():
        cursor = encode_cursor(position, "things:1")
        decoded = decode_cursor(cursor, "things:1")

    assert decoded == position
    assert isinstance(cursor, str)
    assert cursor.isascii()
    assert all(c.isalnum() or c in "-_." for c in cursor)
    assert "2024" not in cursor


def test_a_cursor_is_deterministic_per_scope(app):
    with app.test_request_context():
        same = encode_cursor([1], "a") == encode_cursor([1], "a")
        different = encode_cursor([1], "a") != encode_cursor([1], "b")

    assert same
    assert different


def flip(text, index):
    """Change one character of a cursor."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda c: c, id="other-scope"),
        pytest.param(lambda c: flip(c, 0), id="tampered-payload"),
        pytest.param(lambda c: flip(c, len(c) - 5), id="tampered-signature"),
        pytest.param(lambda c: c[:-4], id="truncated"),
        pytest.param(lambda c: c.split(".")[0], id="unsigned"),
        pytest.param(lambda c: "garbage", id="garbage"),
        pytest.param(lambda c: "", id="empty"),
        pytest.param(lambda c: "....", id="dots"),
    ],
)
def test_decode_cursor_refuses_a_bad_one_naming_cursor(app, mangle):
    with app.test_request_context():
        cursor = encode_cursor(["2024-05-01T12:00:00", 42], "things:1")
        scope = "things:2" if mangle(cursor) == cursor else "things:1"
        with pytest.raises(InvalidParameters) as caught:
            decode_cursor(mangle(cursor), scope)

    assert caught.value.status == 400
    assert [error["parameter"] for error in caught.value.errors] == ["cursor"]


@pytest.mark.parametrize("payload", [{"a": 1}, "text", 42, None])
def test_a_signed_cursor_that_is_not_a_list_is_refused(app, payload):
    with app.test_request_context():
        cursor = encode_cursor(payload, "things:1")  # type: ignore[arg-type]
        with pytest.raises(InvalidParameters) as caught:
            decode_cursor(cursor, "things:1")

    assert [error["parameter"] for error in caught.value.errors] == ["cursor"]


def test_a_cursor_signed_with_another_secret_key_is_refused(make_app):
    ours = make_app(SECRET_KEY="k" * 40)
    theirs = make_app(SECRET_KEY="q" * 40)
    with theirs.test_request_context():
        foreign = encode_cursor([1], "things:1")
    with ours.test_request_context():
        own = encode_cursor([1], "things:1")
        assert decode_cursor(own, "things:1") == [1]
        with pytest.raises(InvalidParameters) as caught:
            decode_cursor(foreign, "things:1")

    assert [error["parameter"] for error in caught.value.errors] == ["cursor"]
    assert foreign != own


# -- CursorResult -------------------------------------------------------------------------------

ROWS = list(range(100, 0, -1))


@pytest.fixture
def list_client(app):
    """A throwaway keyset list over ROWS (newest = largest), filtered by an optional `q`."""

    @app.get("/things")
    @queryschema({**CURSOR_QUERY, vol.Optional("q"): String(0, 20), vol.Optional("extra"): int})
    def list_things(query):
        scope = f"things:{query.get('q')}"
        start = decode_cursor(query["cursor"], scope)[0] if "cursor" in query else None
        rows = [n for n in ROWS if start is None or n < start]
        page, more = rows[: query["limit"]], len(rows) > query["limit"]
        cursor = encode_cursor([page[-1]], scope) if more else None
        return CursorResult(page, limit=query["limit"], next_cursor=cursor)

    return app.test_client()


def test_cursor_result_has_meta_links_and_a_link_header(list_client):
    response = list_client.get("/things?limit=30&q=abc&extra=1")

    assert assert_success(response) == ROWS[:30]
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert body["meta"] == {
        "limit": 30,
        "has_more": True,
        "next_cursor": body["meta"]["next_cursor"],
    }
    assert set(body["links"]) == {"self", "next"}
    assert query_of(body["links"]["self"]) == {"limit": "30", "q": "abc", "extra": "1"}
    assert query_of(body["links"]["next"]) == {
        "limit": "30",
        "q": "abc",
        "extra": "1",
        "cursor": body["meta"]["next_cursor"],
    }
    assert parse_link_header(response.headers["Link"]) == body["links"]


def test_the_self_link_has_the_default_limit_and_keeps_the_cursor(list_client):
    first = list_client.get("/things").get_json()
    second = list_client.get(first["links"]["next"])

    body = second.get_json()
    assert first["meta"]["limit"] == 20
    assert query_of(first["links"]["self"]) == {"limit": "20"}
    assert body["data"] == ROWS[20:40]
    assert query_of(body["links"]["self"]) == {
        "limit": "20",
        "cursor": first["meta"]["next_cursor"],
    }
    assert query_of(body["links"]["next"])["cursor"] == body["meta"]["next_cursor"]
    assert body["meta"]["next_cursor"] != first["meta"]["next_cursor"]


def test_the_last_page_has_no_next_relation_at_all(list_client):
    seen, url, pages = [], "/things?limit=33", 0
    while url:
        response = list_client.get(url)
        body = response.get_json()
        seen += assert_success(response)
        url = body["links"].get("next")
        pages += 1

    assert seen == ROWS
    assert pages == 4
    assert body["meta"] == {"limit": 33, "has_more": False}
    assert set(body["links"]) == {"self"}
    assert parse_link_header(response.headers["Link"]) == {"self": body["links"]["self"]}
    assert "null" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "cursor=garbage",
        "cursor=",
        "q=abc&cursor={cursor}",
        "cursor={cursor}x",
    ],
)
def test_a_bad_cursor_over_http_is_a_400(list_client, query):
    cursor = list_client.get("/things?limit=5").get_json()["meta"]["next_cursor"]

    response = list_client.get("/things?" + query.format(cursor=cursor))

    assert_cursor_error(response)


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-5", "2.0"])
def test_an_out_of_range_limit_is_a_400_naming_limit(list_client, limit):
    response = list_client.get(f"/things?limit={limit}")

    body = assert_problem(response, 400, INVALID_PARAMETERS)
    assert [error["parameter"] for error in body["errors"]] == ["limit"]


def test_cursor_result_directly(app):
    with app.test_request_context("/things?limit=5&q=x&q2=%25"):
        result = CursorResult([1, 2], limit=5, next_cursor="abc")
        last = CursorResult([], limit=5, next_cursor=None)

    assert result.status == 200
    assert result.value == [1, 2]
    assert result.meta == {"limit": 5, "has_more": True, "next_cursor": "abc"}
    assert result.links == {
        "self": "http://localhost/things?limit=5&q=x&q2=%25",
        "next": "http://localhost/things?limit=5&q=x&q2=%25&cursor=abc",
    }
    assert result.headers["Link"] == (
        '<http://localhost/things?limit=5&q=x&q2=%25>; rel="self", '
        '<http://localhost/things?limit=5&q=x&q2=%25&cursor=abc>; rel="next"'
    )
    assert result.envelope() == {"data": [1, 2], "meta": result.meta, "links": result.links}
    assert last.meta == {"limit": 5, "has_more": False}
    assert last.links == {"self": "http://localhost/things?limit=5&q=x&q2=%25"}
    assert last.envelope()["data"] == []
