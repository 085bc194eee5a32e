"""Schema plans and explanations (myapp.core.fastpath.voluptuous_plans), held to their schemas.

A plan must return exactly what its schema returns, keys in the same order, for every
value the schema accepts, and must never accept a value the schema refuses; where it
misses, the schema's explanation lists the errors, and it must list exactly those
voluptuous finds (the same paths, the same messages), and none for a valid value.
"""

from __future__ import annotations

import pytest
import voluptuous as vol
from hypothesis import example, given, settings
from hypothesis import strategies as st

from myapp.core import ApiFlask, register_fast_path
from myapp.core.fastpath import Miss
from myapp.core.fastpath.voluptuous_plans import explanation, plan
from myapp.core.pagination import PAGE_QUERY
from myapp.core.validation import _check, _failures, _shape, compile_schema
from myapp.core.validators import Email, Integer, String

#: Validation uses a plan only inside an app whose fast path covers voluptuous.
FAST_APP = ApiFlask(__name__)
register_fast_path(FAST_APP)
if "voluptuous" not in FAST_APP.fast_path:
    pytest.skip(
        "the installed voluptuous is outside the fast path's range", allow_module_level=True
    )

SCHEMAS = {
    "item": compile_schema(
        {
            "name": String(1, 64),
            "email": Email(),
            vol.Optional("tags", default=list): vol.All([str], vol.Length(max=3)),
            vol.Optional("active", default=True): bool,
        }
    ),
    "nested": compile_schema(
        {
            "user": {"id": int, vol.Optional("nick"): vol.Maybe(str)},
            "items": [{"n": Integer(0, 9)}],
            vol.Optional("a", default=1): int,
            vol.Optional("b", default=2): int,
            vol.Optional("c", default=list): [int],
        }
    ),
    "choices": compile_schema(
        {
            "kind": vol.Any("a", "b", 3, None),
            "x": vol.All(vol.Any(int, float), vol.Range(min=0)),
            vol.Optional("raw"): lambda value: int(value),  # a ValueError is a failure
            vol.Optional("d"): dict,
        }
    ),
    # Inside All and Any, dict keys are optional unless All(required=True) says so.
    "inner required": compile_schema(
        {
            "meta": vol.All({"k": int, "v": str}, vol.Length(min=1)),
            "strict": vol.All({"k": int}, required=True),
        }
    ),
    "allow extra": vol.Schema(
        {"a": int, vol.Required("r", default="x"): str}, extra=vol.ALLOW_EXTRA
    ),
    "remove extra": vol.Schema({"a": int, "b": [str]}, extra=vol.REMOVE_EXTRA),
    "not required": vol.Schema({"a": int, vol.Required("b"): int}),
    "query": compile_schema(PAGE_QUERY, coerce=True),
    # voluptuous fills in defaults in its own (set) order; six make a chance match rare.
    "defaults": compile_schema({vol.Optional(name, default=name): str for name in "uvwxyz"}),
    "drops": vol.Schema({"a": [lambda value: vol.Remove if value == 0 else value]}),
    "nested plain": compile_schema(
        {
            "user": {"id": int, vol.Optional("nick"): str},
            "items": [{"n": Integer(0, 9), vol.Optional("k"): [int]}],
            vol.Optional("c", default=list): vol.All([int], vol.Length(max=2)),
        }
    ),
    "own messages": vol.Schema(
        {
            vol.Required("a", msg="give an a"): vol.All(int, vol.Range(min=0), msg="bad a"),
            "b": vol.All(str, vol.Length(min=2)),
            vol.Optional("c"): [vol.All(int, msg="ints only")],
        },
        required=True,
    ),
}
NAMES = ["name", "email", "tags", "active", "user", "id", "nick", "items", "n", "a", "b"]
NAMES += ["c", "kind", "x", "raw", "d", "meta", "k", "v", "strict", "r", "page", "per_page"]
NAMES += ["u", "w"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "a", "b", "3", "20", "ada@example.com", "x" * 70, "not an email"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=12,
)
# Mostly objects made of the schemas' own names, so that many of them are valid.
DOCUMENTS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=6) | VALUES


def ordered(value):
    """The value with every dict's key order made part of what compares equal."""
    if isinstance(value, dict):
        return ("dict", [(key, ordered(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [ordered(item) for item in value])
    return (type(value).__name__, value)


def outcome(check, value):
    """What a check answers: the ordered result, a refusal, or the exception it let out."""
    try:
        return "ok", ordered(check(value))
    except (Miss, vol.Invalid):
        return "refused", None
    except Exception as exc:  # a validator's own bug must escape the same way from both
        return "raised", type(exc)


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=150, deadline=None, database=None)
@given(value=DOCUMENTS)
@example(value={"name": "Ada", "email": "ada@example.com"})
@example(value={"name": "Ada", "email": "ada@EXAMPLE.com", "active": False, "tags": ["x"]})
@example(value={"user": {"id": 1}, "items": [{"n": 3}], "b": 5})
@example(value={"kind": None, "x": 1.5, "raw": "7", "d": {}})
@example(value={"raw": "seven", "kind": "a", "x": 1})
@example(value={"meta": {"k": 1}, "strict": {"k": 2}})
@example(value={"a": 1, "zz": [1]})
@example(value={"a": 1, "b": ["x"], "zz": 2})
@example(value={"b": 1})
@example(value={"page": "2", "per_page": "50"})
def test_plan_answers_as_its_schema(name, value):
    schema = SCHEMAS[name]
    fast = plan(schema)
    theirs, ours = outcome(schema, value), outcome(fast, value)

    if "ok" in (theirs[0], ours[0]):  # one accepts: both do, with the same value
        assert ours == theirs
    # Where the plan misses, the explanation or the schema answers, errors and all.
    with FAST_APP.app_context():
        assert outcome(lambda value: validated(schema, fast, value), value) == theirs


def validated(schema, fast, value):
    """What validation makes of `value`: the answer, or vol.Invalid for failures."""
    answer, failures = _check(schema, fast, explanation(schema), value)
    if failures is not None:
        raise vol.Invalid(repr(failures))
    return answer


def voluptuous_failures(schema, value):
    """The errors voluptuous finds in `value`, as the problem lists them ([] when valid)."""
    try:
        schema(value)
    except vol.MultipleInvalid as exc:
        return _failures(exc)
    return []


EXPLAINED = [name for name in SCHEMAS if explanation(SCHEMAS[name]) is not None]


@pytest.mark.parametrize("name", EXPLAINED)
@settings(max_examples=300, deadline=None, database=None)
@given(value=DOCUMENTS)
@example(value={"name": "", "email": "not an email", "tags": "red"})
@example(value={"name": "Ada", "email": "ada@example.com", "tags": ["x", 3, None]})
@example(value={"name": "Ada", "email": "ada@example.com", "tags": ["a", "b", "c", "d"]})
@example(value={"user": {"nick": 3}, "items": [{"n": 3}, {"n": "x"}], "c": [1, "2"]})
@example(value={"items": [1, {"n": 1}], "user": []})
@example(value={"meta": {}, "strict": {}})
@example(value={"meta": {"k": "1", "v": 2}, "strict": {"k": 1, "z": 2}})
@example(value={"b": 1, "a": "x", "zz": 3})
@example(value={"page": "0", "per_page": "x", "extra": "1"})
@example(value={"a": [0, "x", 1]})
@example(value=[1])
def test_explanations_find_what_voluptuous_finds(name, value):
    schema = SCHEMAS[name]
    found = explanation(schema)(value)

    if found is not None:  # None: a case it leaves to voluptuous
        assert _shape(found) == voluptuous_failures(schema, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("item", {"name": "Ada", "email": "ada@example.com"}),
        ("nested", {"user": {"id": 1, "nick": None}, "items": [{"n": 3}, {"n": 0}]}),
        ("choices", {"kind": "b", "x": 0}),
        ("inner required", {"meta": {"v": "only v"}, "strict": {"k": 1}}),
        ("allow extra", {"zz": 1, "a": 2}),
        ("remove extra", {"zz": 1, "a": 2}),
        ("not required", {"b": 2}),
        ("query", {"per_page": "5"}),
        ("defaults", {"w": "given"}),
        ("drops", {"a": [0, 1, 0, 2]}),
    ],
)
def test_plans_take_valid_values_themselves(name, value):
    """The plan answers valid values itself (no Miss): otherwise it buys nothing."""
    schema = SCHEMAS[name]

    assert ordered(plan(schema)(value)) == ordered(schema(value))


@pytest.mark.parametrize(
    "schema",
    [
        vol.Schema({str: int}),  # a key wildcard
        vol.Schema({vol.Remove("a"): int}),
        vol.Schema({vol.Exclusive("a", "g"): int, vol.Exclusive("b", "g"): int}),
        vol.Schema({"a": [int, str]}),  # several item schemas
        vol.Schema({"a": (int,)}),
        vol.Schema({"a": vol.SomeOf([int], min_valid=1)}),
        vol.Schema({vol.Extra: int}),
    ],
)
def test_shapes_without_a_plan_are_left_to_voluptuous(schema):
    assert plan(schema) is None
    assert explanation(schema) is None


def test_any_has_a_plan_but_no_explanation():
    """Any keeps the deepest of its alternatives' errors, which explanations leave alone."""
    schema = SCHEMAS["choices"]

    assert plan(schema) is not None
    assert explanation(schema) is None


def test_other_exceptions_pass_through_like_voluptuous():
    def broken(value):
        raise KeyError("a bug in a validator")

    schema = vol.Schema({"a": broken})

    with pytest.raises(KeyError):
        schema({"a": 1})
    with pytest.raises(KeyError):
        plan(schema)({"a": 1})
    with pytest.raises(KeyError):
        explanation(schema)({"a": 1})
