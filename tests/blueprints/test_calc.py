"""The calculator: plain functions, views called directly, and the HTTP contract."""

from __future__ import annotations

import pytest

from myapp.blueprints.calc import (
    DivisionByZero,
    ResultOutOfRange,
    add,
    add_body,
    add_query,
    divide,
    divide_numbers,
)
from myapp.core import ApiResult, InvalidParameters, ValidationFailed
from tests.helpers import assert_problem, assert_success

PROBLEMS = "https://myapp.dev/problems/"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(10, 2, 5.0), (1, 4, 0.25), (-9, 3, -3.0), (0, 5, 0.0), (7.5, 2.5, 3.0), (1e308, 10, 1e307)],
)
def test_divide(a, b, expected):
    result = divide(a, b)

    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize("b", [0, 0.0, -0.0])
def test_divide_by_zero(b):
    with pytest.raises(DivisionByZero):
        divide(1, b)


@pytest.mark.parametrize(("a", "b"), [(1e308, 1e-308), (-1e308, 1e-10), (2**1000, 2**-100)])
def test_divide_out_of_range(a, b):
    with pytest.raises(ResultOutOfRange):
        divide(a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(1, 2, 3), (-1, 1, 0), (2**62, 2**62, 2**63), (0.5, 0.25, 0.75), (1, 0.5, 1.5)],
)
def test_add(a, b, expected):
    result = add(a, b)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("a", "b"), [(1e308, 1e308), (-1e308, -1e308)])
def test_add_out_of_range(a, b):
    with pytest.raises(ResultOutOfRange):
        add(a, b)


def test_the_calc_problems_are_422s_with_their_own_types():
    assert (DivisionByZero.status, DivisionByZero.type) == (422, "division-by-zero")
    assert (ResultOutOfRange.status, ResultOutOfRange.type) == (422, "result-out-of-range")


def test_divide_view_returns_an_api_result(app):
    with app.test_request_context("/v1/calc/divide?a=10&b=2"):
        result = divide_numbers()

    assert isinstance(result, ApiResult)
    assert result.value == {"result": 5.0}
    assert result.status == 200


def test_divide_view_raises_for_a_zero_divisor(app):
    with app.test_request_context("/v1/calc/divide?a=10&b=0"), pytest.raises(DivisionByZero):
        divide_numbers()


def test_divide_view_raises_for_a_bad_parameter(app):
    with (
        app.test_request_context("/v1/calc/divide?a=abc&b=2"),
        pytest.raises(InvalidParameters) as caught,
    ):
        divide_numbers()

    assert caught.value.errors == [{"parameter": "a", "detail": "expected a number"}]


def test_add_query_view_keeps_integers(app):
    with app.test_request_context("/v1/calc/add?a=1&b=2"):
        result = add_query()

    assert result.value == {"sum": 3}
    assert type(result.value["sum"]) is int
    assert result.status == 200


def test_add_body_view(app):
    with app.test_request_context("/v1/calc/add", method="POST", json={"a": 1, "b": 2.5}):
        result = add_body()

    assert result.value == {"sum": 3.5}
    assert result.status == 200


def test_add_body_view_raises_for_bad_operands(app):
    with (
        app.test_request_context("/v1/calc/add", method="POST", json={"a": True, "b": "2"}),
        pytest.raises(ValidationFailed) as caught,
    ):
        add_body()

    assert [error["pointer"] for error in caught.value.errors] == ["#/a", "#/b"]


def test_the_undecorated_views_take_validated_arguments():
    assert divide_numbers.__wrapped__(query={"a": 9, "b": 3}).value == {"result": 3.0}
    assert add_body.__wrapped__(data={"a": 1, "b": 2}).value == {"sum": 3}


def test_get_divide(client):
    response = client.get("/v1/calc/divide?a=10&b=2", headers={"X-Request-ID": "calc-1"})

    assert assert_success(response) == {"result": 5.0}
    assert response.data == b'{"data":{"result":5.0}}'
    assert response.headers["X-Request-ID"] == "calc-1"


@pytest.mark.parametrize("b", ["0", "0.0", "-0", "0e5"])
def test_get_divide_by_zero(client, b):
    response = client.get(f"/v1/calc/divide?a=10&b={b}")

    problem = assert_problem(response, 422, PROBLEMS + "division-by-zero")
    assert problem["type"].endswith("division-by-zero")
    assert problem["title"] == "Division by zero"
    assert problem["instance"] == "/v1/calc/divide"


@pytest.mark.parametrize(
    ("query_string", "errors"),
    [
        ("b=2", [{"parameter": "a", "detail": "is required"}]),
        ("a=abc&b=2", [{"parameter": "a", "detail": "expected a number"}]),
        ("a=&b=2", [{"parameter": "a", "detail": "expected a number"}]),
        ("a=NaN&b=2", [{"parameter": "a", "detail": "expected a number"}]),
        ("a=Infinity&b=2", [{"parameter": "a", "detail": "expected a number"}]),
        ("a=1&a=2&b=2", [{"parameter": "a", "detail": "given more than once"}]),
        ("a=1&b=2&c=3", [{"parameter": "c", "detail": "is not allowed"}]),
        (
            "",
            [
                {"parameter": "a", "detail": "is required"},
                {"parameter": "b", "detail": "is required"},
            ],
        ),
    ],
)
@pytest.mark.parametrize("operation", ["divide", "add"])
def test_bad_query_parameters_are_400s_naming_them(client, operation, query_string, errors):
    response = client.get(f"/v1/calc/{operation}?{query_string}")

    problem = assert_problem(response, 400, PROBLEMS + "invalid-parameters")
    assert problem["errors"] == errors


def test_a_huge_query_number_is_a_400(client):
    problem = assert_problem(
        client.get("/v1/calc/add?a=1e999&b=1"), 400, PROBLEMS + "invalid-parameters"
    )

    assert [error["parameter"] for error in problem["errors"]] == ["a"]


def test_get_add_keeps_integers(client):
    response = client.get("/v1/calc/add?a=1&b=2")

    assert assert_success(response) == {"sum": 3}
    assert response.data == b'{"data":{"sum":3}}'


def test_get_add_with_floats(client):
    assert assert_success(client.get("/v1/calc/add?a=0.5&b=1e-1")) == {"sum": 0.6}


def test_post_add_keeps_integers(client):
    response = client.post("/v1/calc/add", json={"a": 1, "b": 2})

    assert assert_success(response) == {"sum": 3}
    assert response.data == b'{"data":{"sum":3}}'


@pytest.mark.parametrize(
    "path", ["/v1/calc/divide?a=1e308&b=1e-308", "/v1/calc/divide?a=-1e308&b=1e-308"]
)
def test_a_quotient_past_the_float_range_is_a_422(client, path):
    problem = assert_problem(client.get(path), 422, PROBLEMS + "result-out-of-range")
    assert problem["title"] == "Result out of range"


def test_addends_are_bounded_so_no_sum_overflows(client):
    # Half the float range each: the largest sum is still a finite float.
    assert client.get("/v1/calc/add?a=8.9e307&b=8.9e307").status_code == 200
    query = client.get("/v1/calc/add?a=1e308&b=1e308")
    assert [
        e["parameter"]
        for e in assert_problem(query, 400, PROBLEMS + "invalid-parameters")["errors"]
    ] == ["a", "b"]
    body = client.post("/v1/calc/add", json={"a": -1e308, "b": 1, "c": 10**400})
    pointers = [
        e["pointer"] for e in assert_problem(body, 422, PROBLEMS + "validation-error")["errors"]
    ]
    assert pointers == ["#/a", "#/c"]


def test_integer_sums_past_the_float_range_are_422s():
    # Reached only by calling the function: the route's bounds keep addends smaller.
    with pytest.raises(ResultOutOfRange):
        add(10**308, 10**308)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"a": True, "b": "2"},
            [
                {"pointer": "#/a", "detail": "expected a number"},
                {"pointer": "#/b", "detail": "expected a number"},
            ],
        ),
        ({"a": None, "b": 1}, [{"pointer": "#/a", "detail": "expected a number"}]),
        ({"a": [1], "b": 1}, [{"pointer": "#/a", "detail": "expected a number"}]),
        ({"a": 1}, [{"pointer": "#/b", "detail": "is required"}]),
        ({"a": 1, "b": 2, "c": 3}, [{"pointer": "#/c", "detail": "is not allowed"}]),
    ],
)
def test_post_add_with_bad_operands_is_a_422(client, body, errors):
    response = client.post("/v1/calc/add", json=body)

    problem = assert_problem(response, 422, PROBLEMS + "validation-error")
    assert problem["errors"] == errors


@pytest.mark.parametrize(
    ("data", "content_type", "status", "type_"),
    [
        (b'{"a": 1, "b": 2}', "text/plain", 415, "about:blank"),
        (b"a=1&b=2", "application/x-www-form-urlencoded", 415, "about:blank"),
        (b'{"a": 1, "b": NaN}', "application/json", 400, PROBLEMS + "malformed-body"),
        (b"[1, 2]", "application/json", 400, PROBLEMS + "malformed-body"),
        (b"", "application/json", 400, PROBLEMS + "malformed-body"),
    ],
)
def test_post_add_with_a_bad_body(client, data, content_type, status, type_):
    response = client.post("/v1/calc/add", data=data, content_type=content_type)

    assert_problem(response, status, type_)


def test_divide_only_answers_get(client):
    response = client.post("/v1/calc/divide", json={"a": 1, "b": 2})

    assert_problem(response, 405)
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS"}
