"""Strict JSON bodies: hostile input is a 400 (or 415) problem, never a 500."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from myapp.core import dataschema, jsonbody
from myapp.core.errors import InvalidBody
from tests.helpers import assert_problem, assert_success

MALFORMED = "https://myapp.dev/problems/malformed-body"


def nested(depth: int) -> bytes:
    """An object whose "value" member brings the document to `depth` levels of nesting."""
    lists = depth - 1
    return b'{"value": ' + b"[" * lists + b"]" * lists + b"}"


def nested_value(depth: int) -> list:
    """The Python value of `nested(depth)`'s "value" member."""
    value: list = []
    for _ in range(depth - 2):
        value = [value]
    return value


@pytest.fixture
def post_body(app):
    """Post raw bytes to a throwaway @dataschema route and return the response."""

    @app.post("/things")
    @dataschema({"value": object})
    def create_thing(data):
        return data

    client = app.test_client()

    def post(body: bytes, content_type: str | None = "application/json"):
        headers = {"Content-Type": content_type} if content_type else {}
        return client.post("/things", data=body, headers=headers)

    return post


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b'{"value": NaN}', "not valid JSON", id="NaN"),
        pytest.param(b'{"value": Infinity}', "not valid JSON", id="Infinity"),
        pytest.param(b'{"value": -Infinity}', "not valid JSON", id="-Infinity"),
        pytest.param(b'{"value": 1e999}', "not valid JSON", id="1e999"),
        pytest.param(b'{"value": -1e999}', "not valid JSON", id="-1e999"),
        pytest.param(b'{"value": ' + b"9" * 5000 + b"}", "not valid JSON", id="int-5000-digits"),
        pytest.param(b'{"value": -' + b"9" * 5000 + b"}", "not valid JSON", id="neg-int-5000"),
        pytest.param(nested(33), "nested deeper than 32", id="depth-33"),
        pytest.param(nested(1000), "nested deeper than 32", id="depth-1000"),
        pytest.param(nested(100_000), "nested deeper than 32", id="lists-100000-deep"),
        pytest.param(
            b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
            "nested deeper than 32",
            id="objects-100000-deep",
        ),
        pytest.param(b'{"value": "\xff"}', "not valid UTF-8", id="invalid-utf8"),
        pytest.param(b'{"value": "\xc0\xaf"}', "not valid UTF-8", id="overlong-utf8"),
        pytest.param(b'{"value": "\xed\xa0\x80"}', "not valid UTF-8", id="utf8-surrogate"),
        pytest.param('{"value": 1}'.encode("utf-16"), "not valid UTF-8", id="utf16-bom"),
        pytest.param('{"value": 1}'.encode("utf-16-le"), "not valid JSON", id="utf16-le"),
        pytest.param(b'\xef\xbb\xbf{"value": 1}', "not valid JSON", id="utf8-bom"),
        pytest.param(b'{"value": "\\ud800"}', "surrogate", id="lone-high-surrogate"),
        pytest.param(b'{"value": "\\udc00"}', "surrogate", id="lone-low-surrogate"),
        pytest.param(b'{"value": "\\uD800x"}', "surrogate", id="upper-case-escape"),
        pytest.param(b'{"value": "\\ude00\\ud83d"}', "surrogate", id="reversed-pair"),
        pytest.param(b'{"value": "\\ud83d\\ude00\\ud800"}', "surrogate", id="pair-then-lone"),
        pytest.param(b'{"value": {"\\ud800": 1}}', "surrogate", id="surrogate-in-key"),
        pytest.param(b'{"value": ["ok", ["\\udfff"]]}', "surrogate", id="surrogate-deep"),
        pytest.param(b"[]", "must be a JSON object", id="array"),
        pytest.param(b'[{"value": 1}]', "must be a JSON object", id="array-of-object"),
        pytest.param(b'"x"', "must be a JSON object", id="string"),
        pytest.param(b"1", "must be a JSON object", id="number"),
        pytest.param(b"null", "must be a JSON object", id="null"),
        pytest.param(b"true", "must be a JSON object", id="true"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"   ", "not valid JSON", id="whitespace"),
        pytest.param(b'{"value": 1} x', "not valid JSON", id="trailing-garbage"),
        pytest.param(b'{"value": 1}{"value": 2}', "not valid JSON", id="two-documents"),
        pytest.param(b'{"value": 1}\x00', "not valid JSON", id="trailing-nul"),
        pytest.param(b'{"value": ', "not valid JSON", id="truncated"),
        pytest.param(b"{'value': 1}", "not valid JSON", id="single-quotes"),
        pytest.param(b'{"value": 1,}', "not valid JSON", id="trailing-comma"),
        pytest.param(b'{"value": 01}', "not valid JSON", id="leading-zero"),
        pytest.param(b'{"value": "a\nb"}', "not valid JSON", id="raw-newline-in-string"),
        pytest.param(b'{"value": 1 /* note */}', "not valid JSON", id="comment"),
    ],
)
def test_hostile_bodies_are_400_problems(post_body, body, detail):
    response = post_body(body)

    problem = assert_problem(response, 400, MALFORMED)
    assert problem["title"] == "Malformed request body"
    assert detail in problem["detail"]


@pytest.mark.parametrize(
    ("body", "value"),
    [
        pytest.param(nested(32), nested_value(32), id="depth-32"),
        pytest.param(b'{"value": "\\ud83d\\ude00"}', "\U0001f600", id="surrogate-pair"),
        pytest.param(b'{"value": "\\\\ud800"}', "\\ud800", id="escaped-backslash"),
        pytest.param('{"value": "Zoë €"}'.encode(), "Zoë €", id="utf8-text"),
        pytest.param(b'{"value": 1e308}', 1e308, id="large-finite"),
        pytest.param(b'{"value": 1e-999}', 0.0, id="underflow-is-zero"),
        pytest.param(b'{"value": ' + b"9" * 4000 + b"}", int("9" * 4000), id="int-4000-digits"),
        pytest.param(b'  {"value": null}\n', None, id="surrounding-whitespace"),
    ],
)
def test_well_formed_edge_cases_are_accepted(post_body, body, value):
    response = post_body(body)

    assert assert_success(response) == {"value": value}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/octet-stream",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
    ],
)
def test_other_content_types_are_415_problems(post_body, content_type):
    response = post_body(b'{"value": 1}', content_type)

    problem = assert_problem(response, 415, "about:blank")
    assert problem["title"] == "Unsupported Media Type"
    assert "UTF-8" in problem["detail"] or "application/json" in problem["detail"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=utf8",
        "application/merge-patch+json",
        "application/vnd.myapp+json",
    ],
)
def test_json_content_types_are_accepted(post_body, content_type):
    response = post_body(b'{"value": [1, 2]}', content_type)

    assert assert_success(response) == {"value": [1, 2]}


def test_empty_body_without_content_type_is_415(post_body):
    response = post_body(b"", None)

    assert_problem(response, 415, "about:blank")


@pytest.fixture
def shallow_client(make_app):
    """A client for an app that accepts JSON nested at most 3 levels deep."""
    app = make_app(JSON_MAX_DEPTH=3)

    @app.post("/things")
    @dataschema({"value": object})
    def create_thing(data):
        return data

    return app.test_client()


def test_json_max_depth_is_configurable(shallow_client):
    ok = shallow_client.post("/things", data=nested(3), content_type="application/json")
    deep = shallow_client.post("/things", data=nested(4), content_type="application/json")

    assert assert_success(ok) == {"value": nested_value(3)}
    assert "nested deeper than 3" in assert_problem(deep, 400, MALFORMED)["detail"]


def _loads_outcome(text: str) -> tuple[str, object]:
    """What json.loads, given the strict reader's hooks each call, makes of a text."""
    try:
        return "value", json.loads(
            text,
            parse_constant=jsonbody._reject_constant,
            parse_float=jsonbody._finite_float,
            parse_int=jsonbody._int_too_long,
            object_pairs_hook=jsonbody._unique_keys,
        )
    except json.JSONDecodeError as exc:
        return "error", f"The request body is not valid JSON: {exc.msg}."
    except ValueError as exc:
        return "error", f"The request body is not valid JSON: {exc}."


def _parse_outcome(text: str) -> tuple[str, object]:
    try:
        return "value", jsonbody.parse_json(text.encode("utf-8", "surrogatepass"), 10_000)
    except InvalidBody as exc:
        return "error", exc.detail


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.one_of(
        _JSON_VALUES.map(json.dumps),
        st.text(alphabet='{}[]":,-+.0123456789eEtrufalsn \ufeff\\', max_size=30),
        st.tuples(st.text(max_size=3), st.sampled_from(['{"a":1,"a":2}', "NaN", "1e400"])).map(
            "".join
        ),
    )
)
@settings(max_examples=400, deadline=None)
def test_the_shared_decoder_reads_as_json_loads_with_the_hooks_did(text: str) -> None:
    """One decoder built at import, against json.loads building one per call: same answers."""
    expected = _loads_outcome(text)
    if expected[0] == "value" and jsonbody._has_surrogate(expected[1]):
        # Refused after decoding, by a check of its own that json.loads does not make.
        expected = ("error", "The JSON body contains an unpaired UTF-16 surrogate.")
    assert _parse_outcome(text) == expected
