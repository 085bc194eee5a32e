"""@dataschema, @queryschema and the strict validators behind them."""

from __future__ import annotations

import json

import pytest
import voluptuous as vol

from myapp.core import Boolean, Email, Integer, Number, String, dataschema, queryschema
from myapp.core.validation import json_pointer
from myapp.core.validators import INT64_MAX, INT64_MIN
from tests.helpers import assert_problem, assert_success

VALIDATION = "https://myapp.dev/problems/validation-error"
PARAMETERS = "https://myapp.dev/problems/invalid-parameters"

PROFILE = {
    "name": str,
    "age": int,
    "email": Email(),
    "tags": [str],
    "address": {"city": str, "zip": str},
}


@pytest.fixture
def post_profile(app):
    """Post a JSON body to a throwaway route validated against PROFILE."""

    @app.post("/profiles")
    @dataschema(PROFILE)
    def create_profile(data):
        return data

    client = app.test_client()
    return lambda body: client.post("/profiles", json=body)


def post_raw(app, schema, body):
    """Add a route validating `schema`, post `body` (JSON text) to it, return the response."""

    @app.post("/raw")
    @dataschema(schema)
    def raw(data):
        return data

    return app.test_client().post("/raw", data=body, content_type="application/json")


def test_valid_data_is_passed_to_the_view_as_data(post_profile):
    body = {
        "name": "Ada",
        "age": 36,
        "email": "Ada@Example.ORG",
        "tags": ["a", "b"],
        "address": {"city": "London", "zip": "N1"},
    }

    data = assert_success(post_profile(body))

    assert data == {**body, "email": "Ada@example.org"}


def test_every_invalid_field_is_listed_at_once_in_sorted_order(post_profile):
    body = {
        "tags": ["ok", 3, "fine", None],
        "name": 5,
        "age": "5",
        "email": "nope",
        "address": {"city": True},
        "extra": 1,
    }

    problem = assert_problem(post_profile(body), 422, VALIDATION)

    assert problem["title"] == "Validation failed"
    assert problem["detail"] == "8 fields are invalid."
    assert problem["instance"] == "/profiles"
    assert problem["errors"] == [
        {"pointer": "#/address/city", "detail": "expected a string"},
        {"pointer": "#/address/zip", "detail": "is required"},
        {"pointer": "#/age", "detail": "expected an integer"},
        {"pointer": "#/email", "detail": "not a valid email address"},
        {"pointer": "#/extra", "detail": "is not allowed"},
        {"pointer": "#/name", "detail": "expected a string"},
        {"pointer": "#/tags/1", "detail": "expected a string"},
        {"pointer": "#/tags/3", "detail": "expected a string"},
    ]


def test_the_order_does_not_depend_on_the_body(app):
    @app.post("/lists")
    @dataschema({"b": [int], "a": int, "c": int})
    def lists(data):
        return data

    client = app.test_client()
    items = [1] * 12
    items[2] = items[10] = "x"
    forward = client.post("/lists", json={"a": "x", "b": items, "c": "x", "d": 1})
    backward = client.post(
        "/lists",
        data=json.dumps({"d": 1, "c": "x", "b": items, "a": "x"}),
        content_type="application/json",
    )

    errors = assert_problem(forward, 422, VALIDATION)["errors"]
    assert [error["pointer"] for error in errors] == ["#/a", "#/b/2", "#/b/10", "#/c", "#/d"]
    assert assert_problem(backward, 422, VALIDATION)["errors"] == errors


def test_one_invalid_field_is_counted_in_the_singular(post_profile):
    problem = assert_problem(
        post_profile(
            {"name": "Ada", "age": 36, "email": "a@b.co", "tags": [], "address": {"city": "L"}}
        ),
        422,
        VALIDATION,
    )

    assert problem["detail"] == "1 field is invalid."
    assert problem["errors"] == [{"pointer": "#/address/zip", "detail": "is required"}]


def test_missing_keys_are_required(post_profile):
    problem = assert_problem(post_profile({}), 422, VALIDATION)

    assert problem["errors"] == [
        {"pointer": f"#/{key}", "detail": "is required"} for key in sorted(PROFILE)
    ]


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ({"address": []}, "#/address", "expected a dictionary"),
        ({"address": None}, "#/address", "expected a dictionary"),
        ({"tags": "abc"}, "#/tags", "expected a list"),
        ({"tags": {"0": "a"}}, "#/tags", "expected a list"),
        ({"address": {"city": "L", "zip": "Z", "x": 1}}, "#/address/x", "is not allowed"),
    ],
)
def test_wrong_containers_name_the_container(post_profile, body, pointer, detail):
    valid = {
        "name": "Ada",
        "age": 1,
        "email": "a@b.co",
        "tags": [],
        "address": {"city": "L", "zip": "Z"},
    }

    problem = assert_problem(post_profile({**valid, **body}), 422, VALIDATION)

    assert problem["errors"] == [{"pointer": pointer, "detail": detail}]


@pytest.mark.parametrize(
    ("key", "pointer"),
    [
        ("a/b", "#/a~1b"),
        ("m~n", "#/m~0n"),
        ("~1", "#/~01"),
        ("/~", "#/~1~0"),
        ("a b", "#/a%20b"),
        ("a%b", "#/a%25b"),
        ("#", "#/%23"),
        ("é", "#/%C3%A9"),
        ('"', "#/%22"),
        ("", "#/"),
        ("x:y@z!$&'()*+,;=?", "#/x:y@z!$&'()*+,;=?"),
    ],
)
def test_unknown_keys_are_pointed_at_in_uri_fragment_form(app, key, pointer):
    response = post_raw(app, {"known": int}, json.dumps({"known": 1, key: 1}))

    problem = assert_problem(response, 422, VALIDATION)
    assert problem["errors"] == [{"pointer": pointer, "detail": "is not allowed"}]


def test_schema_keys_with_slash_and_tilde_are_escaped(app):
    response = post_raw(app, {"a/b": {"m~n": [int]}}, json.dumps({"a/b": {"m~n": [1, True]}}))

    problem = assert_problem(response, 422, VALIDATION)
    assert problem["errors"] == [{"pointer": "#/a~1b/m~0n/1", "detail": "expected an integer"}]


@pytest.mark.parametrize(
    ("path", "pointer"),
    [
        ([], "#"),
        (["a"], "#/a"),
        (["a", 0], "#/a/0"),
        (["tags", 12, "name"], "#/tags/12/name"),
        (["a/b", "c~d"], "#/a~1b/c~0d"),
        (["~/"], "#/~0~1"),
    ],
)
def test_json_pointer(path, pointer):
    assert json_pointer(path) == pointer


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (int, 5),
        (int, -5),
        (int, 2**63 - 1),
        (float, 5),
        (float, 5.5),
        (float, -0.0),
        (bool, True),
        (bool, False),
        (str, "5"),
        (str, ""),
        (Number(), 5),
        (Number(), 5.5),
    ],
)
def test_builtin_types_accept_their_own_json_type(app, type_, value):
    response = post_raw(app, {"v": type_}, json.dumps({"v": value}))

    data = assert_success(response)
    assert data == {"v": value}
    assert type(data["v"]) is type(value)


@pytest.mark.parametrize(
    ("type_", "value", "detail"),
    [
        (int, True, "expected an integer"),
        (int, False, "expected an integer"),
        (int, 5.0, "expected an integer"),
        (int, "5", "expected an integer"),
        (int, None, "expected an integer"),
        (float, "5", "expected a number"),
        (float, True, "expected a number"),
        (float, None, "expected a number"),
        (bool, 1, "expected a boolean (true or false)"),
        (bool, 0, "expected a boolean (true or false)"),
        (bool, "true", "expected a boolean (true or false)"),
        (str, 5, "expected a string"),
        (str, None, "expected a string"),
        (str, ["a"], "expected a string"),
        (Number(), True, "expected a number"),
        (Number(), "5", "expected a number"),
    ],
)
def test_builtin_types_are_strict(app, type_, value, detail):
    response = post_raw(app, {"v": type_}, json.dumps({"v": value}))

    problem = assert_problem(response, 422, VALIDATION)
    assert problem["errors"] == [{"pointer": "#/v", "detail": detail}]


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"v": vol.All(int, vol.Range(min=0))}, id="All(int, Range)"),
        pytest.param({"v": vol.Any(int, None)}, id="Any(int, None)"),
        pytest.param({"v": vol.Maybe(int)}, id="Maybe(int)"),
    ],
)
def test_builtins_inside_combinators_are_strict(app, schema):
    response = post_raw(app, schema, '{"v": true}')

    problem = assert_problem(response, 422, VALIDATION)
    assert [error["pointer"] for error in problem["errors"]] == ["#/v"]


def test_optional_keys_may_be_left_out_and_get_defaults(app):
    schema = {"name": str, vol.Optional("nick"): str, vol.Optional("admin", default=False): bool}

    response = post_raw(app, schema, '{"name": "Ada"}')

    assert assert_success(response) == {"name": "Ada", "admin": False}


def test_a_ready_schema_keeps_its_own_rules(app):
    schema = vol.Schema({"name": str}, extra=vol.ALLOW_EXTRA)

    response = post_raw(app, schema, '{"name": "Ada", "other": 1}')

    assert assert_success(response) == {"name": "Ada", "other": 1}


def test_url_arguments_reach_the_view_untouched(app):
    @app.patch("/things/<int:thing_id>/<slug>")
    @dataschema({"name": str})
    def update_thing(thing_id, slug, data):
        return {"thing_id": thing_id, "slug": slug, "data": data}

    response = app.test_client().patch("/things/7/seven", json={"name": "Seven"})

    data = assert_success(response)
    assert data == {"thing_id": 7, "slug": "seven", "data": {"name": "Seven"}}


def test_a_url_argument_named_data_collides_loudly(app):
    @app.post("/things/<data>")
    @dataschema({"name": str})
    def create_thing(data):
        return {"data": data}

    with (
        app.test_request_context("/things/x", method="POST", json={"name": "Ada"}),
        pytest.raises(RuntimeError, match="collides with the validated data"),
    ):
        create_thing(data="x")


def test_a_url_argument_named_data_is_a_500_over_http(app, caplog):
    @app.post("/things/<data>")
    @dataschema({"name": str})
    def create_thing(data):
        return {"data": data}

    response = app.test_client().post("/things/x", json={"name": "Ada"})

    assert assert_problem(response, 500)["detail"] == "The server could not complete the request."
    assert "collides with the validated data" in caplog.text


def test_the_argument_name_can_be_chosen(app):
    @app.post("/things/<data>")
    @dataschema({"name": str}, arg="payload")
    def create_thing(data, payload):
        return {"url": data, "body": payload}

    response = app.test_client().post("/things/x", json={"name": "Ada"})

    assert assert_success(response) == {"url": "x", "body": {"name": "Ada"}}


@pytest.mark.parametrize(
    ("decorator", "arg"),
    [(dataschema({"a": int}), "data"), (queryschema({"a": int}), "query")],
)
def test_a_view_without_the_argument_fails_at_decoration(decorator, arg):
    def view(other):
        return other

    with pytest.raises(TypeError, match=f"must accept a '{arg}' argument"):
        decorator(view)


def test_the_schema_is_exposed_on_the_view():
    @dataschema({"a": int})
    def view(data):
        return data

    assert isinstance(view.body_schema, vol.Schema)
    assert view.__name__ == "view"


SEARCH = {
    "page": Integer(min=1, max=100),
    vol.Optional("q"): str,
    vol.Optional("exact", default=False): bool,
    vol.Optional("ratio"): float,
    vol.Optional("limit"): int,
}


@pytest.fixture
def search(app):
    """GET a throwaway route validated against SEARCH with a query string."""

    @app.get("/search")
    @queryschema(SEARCH)
    def search_things(query):
        return query

    client = app.test_client()
    return lambda query_string: client.get("/search?" + query_string)


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("page=2", {"page": 2, "exact": False}),
        ("page=100&exact=true", {"page": 100, "exact": True}),
        ("page=1&exact=false&q=hi", {"page": 1, "exact": False, "q": "hi"}),
        ("page=1&ratio=0.5", {"page": 1, "exact": False, "ratio": 0.5}),
        ("page=1&ratio=3", {"page": 1, "exact": False, "ratio": 3}),
        ("page=1&ratio=-1e3", {"page": 1, "exact": False, "ratio": -1000.0}),
        ("page=1&limit=-7", {"page": 1, "exact": False, "limit": -7}),
        ("page=1&q=", {"page": 1, "exact": False, "q": ""}),
        ("page=1&q=a%26b", {"page": 1, "exact": False, "q": "a&b"}),
    ],
)
def test_query_text_is_coerced(search, query_string, expected):
    data = assert_success(search(query_string))

    assert data == expected
    assert {key: type(value) for key, value in data.items()} == {
        key: type(value) for key, value in expected.items()
    }


@pytest.mark.parametrize(
    ("query_string", "errors"),
    [
        ("", [("page", "is required")]),
        ("page=abc", [("page", "expected an integer")]),
        ("page=1.5", [("page", "expected an integer")]),
        ("page=", [("page", "expected an integer")]),
        ("page=0", [("page", "must be between 1 and 100")]),
        ("page=101", [("page", "must be between 1 and 100")]),
        ("page=1&page=2", [("page", "given more than once")]),
        (
            "page=1&q=a&q=b&page=2",
            [("page", "given more than once"), ("q", "given more than once")],
        ),
        ("page=1&bogus=1", [("bogus", "is not allowed")]),
        ("page=1&exact=yes", [("exact", "expected a boolean (true or false)")]),
        ("page=1&exact=True", [("exact", "expected a boolean (true or false)")]),
        ("page=1&ratio=nan", [("ratio", "expected a number")]),
        ("page=1&ratio=inf", [("ratio", "expected a number")]),
        ("page=1&ratio=0x10", [("ratio", "expected a number")]),
        ("page=1&limit=99999999999999999999", [("limit", "must be between")]),
        (
            "zeta=1&page=x&alpha=2",
            [
                ("alpha", "is not allowed"),
                ("page", "expected an integer"),
                ("zeta", "is not allowed"),
            ],
        ),
    ],
)
def test_invalid_query_parameters_are_400_problems(search, query_string, errors):
    problem = assert_problem(search(query_string), 400, PARAMETERS)

    assert problem["title"] == "Invalid query parameters"
    noun = "parameter is" if len(errors) == 1 else "parameters are"
    assert problem["detail"] == f"{len(errors)} {noun} invalid."
    assert [set(error) for error in problem["errors"]] == [{"parameter", "detail"}] * len(errors)
    assert [error["parameter"] for error in problem["errors"]] == [name for name, _ in errors]
    for error, (_, detail) in zip(problem["errors"], errors, strict=True):
        assert error["detail"].startswith(detail)


def test_a_huge_float_in_the_query_is_out_of_bounds(search):
    problem = assert_problem(search("page=1&ratio=1e999"), 400, PARAMETERS)

    assert problem["errors"][0]["parameter"] == "ratio"
    assert problem["errors"][0]["detail"].startswith("must be between")


def invalid(validator, value) -> str:
    """Run `value` through a voluptuous Schema of `validator`; return the failure message."""
    with pytest.raises(vol.MultipleInvalid) as caught:
        vol.Schema(validator)(value)
    return caught.value.errors[0].error_message


@pytest.mark.parametrize(
    ("validator", "value", "expected"),
    [
        (Integer(), 0, 0),
        (Integer(), INT64_MAX, INT64_MAX),
        (Integer(), INT64_MIN, INT64_MIN),
        (Integer(min=1, max=10), 1, 1),
        (Integer(min=1, max=10), 10, 10),
        (Integer(min=None, max=None), 10**30, 10**30),
        (Integer(coerce=True), "5", 5),
        (Integer(coerce=True), "-5", -5),
        (Integer(coerce=True), "+5", 5),
        (Integer(coerce=True), "007", 7),
        (Integer(coerce=True), 5, 5),
        (Number(), 5, 5),
        (Number(), 1.5, 1.5),
        (Number(), 1e308, 1e308),
        (Number(min=0, max=1), 0, 0),
        (Number(min=0, max=1), 1.0, 1.0),
        (Number(coerce=True), "1.5", 1.5),
        (Number(coerce=True), "5", 5),
        (Number(coerce=True), "1e3", 1000.0),
        (Number(coerce=True), ".5", 0.5),
        (Number(coerce=True), "-0", 0),
        (Boolean(), True, True),
        (Boolean(), False, False),
        (Boolean(coerce=True), "true", True),
        (Boolean(coerce=True), "false", False),
        (String(), "", ""),
        (String(), "x" * 1000, "x" * 1000),
        (String(), "Zoë\n\t", "Zoë\n\t"),
        (String(min_length=2, max_length=5), "ab", "ab"),
        (String(min_length=2, max_length=5), "abcde", "abcde"),
        (Email(), "a@b.co", "a@b.co"),
        (Email(), "User.Name+tag@Example.COM", "User.Name+tag@example.com"),
        (Email(), "a@sub.DOMAIN.example.org", "a@sub.domain.example.org"),
        # Surrounding whitespace is trimmed: addresses are normalized, not refused.
        (Email(), " A@B.CO\n", "A@b.co"),
    ],
)
def test_validators_accept(validator, value, expected):
    result = vol.Schema(validator)(value)

    assert result == expected
    assert type(result) is type(expected)


def longest_email() -> str:
    """A valid address of exactly 254 characters."""
    address = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 61
    assert len(address) == 254
    return address


@pytest.mark.parametrize(
    ("validator", "value", "message"),
    [
        (Integer(), True, "expected an integer"),
        (Integer(), 5.0, "expected an integer"),
        (Integer(), "5", "expected an integer"),
        (Integer(), None, "expected an integer"),
        (Integer(), INT64_MAX + 1, f"must be between {INT64_MIN} and {INT64_MAX}"),
        (Integer(), INT64_MIN - 1, f"must be between {INT64_MIN} and {INT64_MAX}"),
        (Integer(min=1, max=10), 0, "must be between 1 and 10"),
        (Integer(min=1, max=10), 11, "must be between 1 and 10"),
        (Integer(min=1, max=None), 0, "must be at least 1"),
        (Integer(min=None, max=10), 11, "must be at most 10"),
        (Integer(coerce=True), "5.0", "expected an integer"),
        (Integer(coerce=True), " 5", "expected an integer"),
        (Integer(coerce=True), "", "expected an integer"),
        (Integer(coerce=True), "\u0663", "expected an integer"),
        (Integer(coerce=True), "1" * 21, "expected an integer"),
        (Integer(coerce=True), "true", "expected an integer"),
        (Number(), True, "expected a number"),
        (Number(), "1.5", "expected a number"),
        (Number(), None, "expected a number"),
        (Number(), float("nan"), "expected a number"),
        (Number(), float("inf"), "must be between"),
        (Number(), float("-inf"), "must be between"),
        (Number(min=0, max=1), -0.1, "must be between 0 and 1"),
        (Number(min=0, max=1), 1.1, "must be between 0 and 1"),
        (Number(min=0, max=None), -1, "must be at least 0"),
        (Number(coerce=True), "nan", "expected a number"),
        (Number(coerce=True), "inf", "expected a number"),
        (Number(coerce=True), "1,5", "expected a number"),
        (Number(coerce=True), "0x10", "expected a number"),
        (Number(coerce=True), "1e999", "must be between"),
        (Boolean(), 1, "expected a boolean (true or false)"),
        (Boolean(), "true", "expected a boolean (true or false)"),
        (Boolean(), None, "expected a boolean (true or false)"),
        (Boolean(coerce=True), "True", "expected a boolean (true or false)"),
        (Boolean(coerce=True), "1", "expected a boolean (true or false)"),
        (Boolean(coerce=True), "yes", "expected a boolean (true or false)"),
        (String(), 5, "expected a string"),
        (String(), None, "expected a string"),
        (String(), b"bytes", "expected a string"),
        (String(), "x" * 1001, "must be at most 1000 characters long"),
        (String(), "a\x00b", "must not contain NUL characters"),
        (String(min_length=2, max_length=5), "a", "must be 2 to 5 characters long"),
        (String(min_length=2, max_length=5), "abcdef", "must be 2 to 5 characters long"),
        (Email(), 5, "expected a string"),
        (Email(), "no-at-sign", "not a valid email address"),
        (Email(), "@b.co", "not a valid email address"),
        (Email(), "a@", "not a valid email address"),
        (Email(), "a@b", "not a valid email address"),
        (Email(), "a@b.c", "not a valid email address"),
        (Email(), "a@-b.co", "not a valid email address"),
        (Email(), "a@b-.co", "not a valid email address"),
        (Email(), "a@b..co", "not a valid email address"),
        (Email(), "a b@c.co", "not a valid email address"),
        (Email(), "a@b@c.co", "not a valid email address"),
        # The local part is a dot-atom: no dot first, last or twice in a row.
        (Email(), "..@b.co", "not a valid email address"),
        (Email(), ".ann@b.co", "not a valid email address"),
        (Email(), "ann.@b.co", "not a valid email address"),
        (Email(), "a..nn@b.co", "not a valid email address"),
        (Email(), "é@b.co", "not a valid email address"),
        (Email(), "a@b.co\nbcc@evil.example", "not a valid email address"),
        (Email(), "a\x00@b.co", "not a valid email address"),
        (Email(), "a" * 65 + "@b.co", "not a valid email address"),
        (Email(), "a@" + "b" * 64 + ".co", "not a valid email address"),
        (Email(), "a" + longest_email(), "not a valid email address"),
    ],
)
def test_validators_reject(validator, value, message):
    assert invalid(validator, value).startswith(message)


def test_the_longest_email_is_accepted():
    address = longest_email()

    assert Email()(address) == address


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), "1e999"])
def test_an_unbounded_number_is_still_finite(value):
    assert invalid(Number(min=None, max=None, coerce=True), value) == "expected a number"


def test_validators_expose_their_bounds():
    integer = Integer(min=1, max=10)
    string = String(min_length=2, max_length=5)

    assert (integer.min, integer.max, integer.coerce) == (1, 10, False)
    assert (string.min_length, string.max_length) == (2, 5)
    assert Email.max_length == 254
