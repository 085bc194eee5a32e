"""Every write route, fed arbitrary JSON and arbitrary bytes: the contract holds whatever arrives.

The routes come from the OpenAPI document (every POST, PUT, PATCH and DELETE in it), so a
new blueprint is fuzzed without touching this file. For each generated request:

- the status is one the operation documents, and never 405 or 500;
- the body is the success envelope (or empty for 204) or a problem whose `status` is
  the HTTP status, and it matches the schema the document gives for that status;
- the users, tokens and aliases tables change only on a 2xx.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.fuzz.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CASES,
    OTHER_EMAIL,
    STATUSES,
    document_app,
    row_counts,
)
from tests.helpers import PROBLEM_MEMBERS, REQUEST_ID

_DOCUMENT_APP = document_app()
DOCUMENT = json.loads(_DOCUMENT_APP.test_client().get("/openapi.json").get_data())
MAX_CONTENT_LENGTH = _DOCUMENT_APP.config["MAX_CONTENT_LENGTH"]
WRITE_METHODS = ("post", "put", "patch", "delete")
WRITE_OPERATIONS = sorted(
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in WRITE_METHODS
)
_PATH_PARAMETER = re.compile(r"\{([^{}]+)\}")
#: Stands for "the id of a row the admin owns" in generated path values.
OWN_ID = "<an id the admin owns>"

# -- what gets sent ------------------------------------------------------------------------

JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    "application/merge-patch+json",
]
OTHER_TYPES = [
    None,
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=fuzz",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/octet-stream",
    "application/xml",
    "*/*",
]
CONTENT_TYPES = st.one_of(
    st.sampled_from(JSON_TYPES + OTHER_TYPES),
    st.from_regex(
        r"[a-z*]{1,12}/[a-z0-9.+*-]{1,20}(; ?[a-z]{1,8}=[A-Za-z0-9-]{0,10})?", fullmatch=True
    ),
)
#: Values the app knows, so schema-shaped bodies sometimes succeed (sign-in, a taken email).
KNOWN_EMAILS = [ADMIN_EMAIL, OTHER_EMAIL, ADMIN_EMAIL.upper(), "new-fuzz@alias.example"]
EMAILS = st.one_of(
    st.sampled_from(KNOWN_EMAILS),
    st.from_regex(
        r"[a-z0-9._-]{1,12}@(example\.com|alias\.example|[a-z]{1,8}\.[a-z]{2,4})", fullmatch=True
    ),
)
TEXT = st.characters(exclude_characters="\x00")

HUGE_INTEGERS = st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**308, -(10**4299)])
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTEGERS,
    st.floats(),  # NaN and infinities too: json.dumps writes them as NaN / Infinity
    st.text(),
    st.text(alphabet=st.sampled_from("\x00\ud800\udfff\ufeff\u202e")),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)
#: Bodies no generator stumbles on by chance, named so a failing example reads well.
SPECIAL_BODIES = {
    "empty": b"",
    "whitespace": b" \r\n\t",
    "nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "object nested 40 deep": b'{"a":' * 40 + b"1" + b"}" * 40,
    "one byte over MAX_CONTENT_LENGTH": b'{"a":"' + b"x" * MAX_CONTENT_LENGTH + b'"}',
    "integer of 5000 digits": b'{"a":' + b"9" * 5000 + b"}",
    "NaN": b'{"a":NaN}',
    "Infinity": b'{"a":-Infinity}',
    "1e999": b'{"a":1e999}',
    "duplicate keys": b'{"name":"a","name":"b"}',
    "UTF-8 BOM": b'\xef\xbb\xbf{"name":"a"}',
    "invalid UTF-8": b'{"name":"\xff\xfe"}',
    "lone surrogate escape": b'{"name":"\\ud800"}',
    "UTF-16": '{"name":"a"}'.encode("utf-16"),
    "truncated": b'{"name":',
    "form": b"email=a%40example.com&password=x",
}


def _schema_values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped like a (converted voluptuous) JSON Schema, so some bodies pass validation."""
    if "const" in schema:
        return st.just(schema["const"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return st.one_of([_schema_values(option) for option in schema[combinator]])
    if "allOf" in schema:
        return _schema_values(schema["allOf"][0])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: _schema_values(s) for name, s in properties.items() if name in required},
            optional={
                name: _schema_values(s) for name, s in properties.items() if name not in required
            },
        )
    if kind == "string" and schema.get("format") == "email":
        return EMAILS
    if kind == "string":
        low = schema.get("minLength", 0)
        high = min(schema.get("maxLength", low + 20), low + 20)
        return st.one_of(st.just(ADMIN_PASSWORD), st.text(TEXT, min_size=low, max_size=high))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.one_of(
            st.integers(-(10**6), 10**6),
            st.floats(low, high, allow_nan=False, allow_infinity=False),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(_schema_values(schema.get("items", {})), max_size=3)
    return JSON_VALUES


def _path_values(operation: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A value for each path parameter from its documented domain.

    Integer ids are often small (rows that exist, the admin's or someone else's) and often
    OWN_ID, the id of a row the admin owns right now (resolved when the request is sent).
    """
    strategies = {}
    for parameter in operation.get("parameters", ()):
        if parameter["in"] != "path":
            continue
        schema = parameter["schema"]
        if schema.get("type") == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            strategies[parameter["name"]] = st.one_of(
                st.just(OWN_ID),
                st.integers(max(low or 1, 1), min(high or 8, 8)),
                st.integers(low, high),
            )
        else:
            strategies[parameter["name"]] = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
    return st.fixed_dictionaries(strategies)


class WriteRequest:
    """One generated request; the body is described, not dumped, so failures read well."""

    def __init__(self, path, body, raw, content_type, auth, if_match):
        self.path, self.body, self.raw = path, body, raw
        self.content_type, self.auth, self.if_match = content_type, auth, if_match

    def __repr__(self) -> str:
        return (
            f"WriteRequest(path={self.path!r}, body={self.body}, "
            f"content_type={self.content_type!r}, auth={self.auth!r}, if_match={self.if_match!r})"
        )


@st.composite
def write_requests(draw: Any, operation: dict[str, Any]) -> WriteRequest:
    """A request to `operation`: any path values, JSON or bytes of any type, any credentials."""
    body_schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema")
    )
    # Repeated entries weigh the draw toward requests that get past the first checks.
    kind = draw(st.sampled_from(["shaped", "shaped", "json", "bytes", "special"]))
    if kind in ("json", "shaped"):
        value = draw(
            _schema_values(body_schema) if kind == "shaped" and body_schema else JSON_VALUES
        )
        ensure_ascii = draw(st.booleans())
        raw = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
        description = f"{kind} {raw[:300]!r}"
    elif kind == "bytes":
        raw = draw(st.binary(max_size=64))
        description = f"bytes {raw!r}"
    else:
        name = draw(st.sampled_from(sorted(SPECIAL_BODIES)))
        raw = SPECIAL_BODIES[name]
        description = f"special: {name}"
    json_type = kind != "bytes" and draw(st.sampled_from([True, True, True, False]))
    return WriteRequest(
        path=draw(_path_values(operation)),
        body=description,
        raw=raw,
        content_type=draw(st.sampled_from(JSON_TYPES) if json_type else CONTENT_TYPES),
        auth=draw(st.sampled_from(["valid bearer"] * 4 + ["none", "unknown bearer", "basic"])),
        if_match=draw(st.sampled_from([None, None, None, "*", '"0123456789abcdef"', "garbage"])),
    )


# -- what must come back ---------------------------------------------------------------------


def _resolve(node: Any, document: dict[str, Any]) -> Any:
    """Inline the document's local $refs (it has no recursive ones)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _resolve(target, document)
        return {key: _resolve(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document) for item in node]
    return node


def check_response(response: Any, operation: dict[str, Any], document: dict[str, Any]) -> None:
    """The status is documented; the body is an envelope or a problem matching its schema."""
    status = response.status_code
    note(f"response: {status} {response.headers.get('Content-Type')} {response.data[:500]!r}")
    assert status not in (405, 500), f"{status} from a documented route"
    assert str(status) in operation["responses"], f"undocumented status {status}"
    documented = _resolve(operation["responses"][str(status)], document)
    request_id = response.headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    if status in (204, 304):
        assert response.data == b""
        assert "Content-Type" not in response.headers
        return
    assert response.mimetype in documented.get("content", {}), "undocumented content type"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    body = json.loads(text)
    if status < 400:
        assert response.mimetype == "application/json"
        assert isinstance(body, dict)
        assert "data" in body
        assert body.keys() <= {"data", "meta", "links"}
    else:
        assert response.mimetype == "application/problem+json"
        assert body.keys() >= PROBLEM_MEMBERS
        assert all(
            isinstance(body[name], str) and body[name] for name in PROBLEM_MEMBERS - {"status"}
        )
        assert body["status"] == status
        assert body["request_id"] == request_id
    schema = documented["content"][response.mimetype].get("schema")
    if schema is not None:
        Draft202012Validator(schema).validate(body)


def check_rows(before: dict[str, int], after: dict[str, int], method: str, path: str, status: int):
    """Rows change only on success, and only in the direction the success means."""
    if not 200 <= status < 300:
        assert after == before, "a failed request changed the database"
    elif status == 201:
        assert sum(after.values()) > sum(before.values()), "201 Created stored nothing"
    elif method == "DELETE":
        assert sum(after.values()) < sum(before.values()), "a successful DELETE deleted nothing"
    elif method == "PATCH":
        assert after["users"] == before["users"]
        assert after["aliases"] == before["aliases"]
        assert after["tokens"] <= before["tokens"], "a PATCH issued tokens"
    if method == "POST" and path == "/v1/auth/token" and status == 200:
        assert after == {**before, "tokens": before["tokens"] + 1}


# -- the test ------------------------------------------------------------------------------


@pytest.mark.fuzz
@pytest.mark.parametrize(
    ("path", "method"), WRITE_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in WRITE_OPERATIONS]
)
def test_write_route_keeps_the_contract(fuzz_app, world, path, method):
    document = json.loads(fuzz_app.test_client().get("/openapi.json").get_data())
    assert document == DOCUMENT
    operation = document["paths"][path][method]
    client = fuzz_app.test_client()
    label = f"{method.upper()} {path}"

    @settings(max_examples=100, deadline=None)
    @given(request=write_requests(operation))
    def run(request: WriteRequest) -> None:
        CASES["write routes", label] += 1
        token = world.ensure()
        headers = {
            "valid bearer": {"Authorization": f"Bearer {token}"},
            "none": {},
            "unknown bearer": {"Authorization": "Bearer " + "A" * 43},
            "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        }[request.auth]
        if request.if_match is not None:
            headers["If-Match"] = request.if_match
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        values = {name: world.own_id if v == OWN_ID else v for name, v in request.path.items()}
        url = _PATH_PARAMETER.sub(lambda m: str(values[m[1]]), path)
        before = row_counts(fuzz_app)
        response = client.open(url, method=method.upper(), data=request.raw, headers=headers)
        after = row_counts(fuzz_app)
        note(f"rows before {before}, after {after}")
        STATUSES.setdefault(("write routes", label), Counter())[response.status_code] += 1
        check_response(response, operation, document)
        check_rows(before, after, method.upper(), path, response.status_code)

    run()


OUT_OF_RANGE = [
    pytest.param(path, method, parameter["name"], value, id=f"{method.upper()} {path} {value}")
    for path, item in sorted(DOCUMENT["paths"].items())
    for method, operation in sorted(item.items())
    for parameter in operation.get("parameters", ())
    if parameter["in"] == "path" and "maximum" in parameter["schema"]
    for value in (0, parameter["schema"]["maximum"] + 1, 10**19, 10**25)
]


@pytest.mark.fuzz
@pytest.mark.parametrize(("path", "method", "name", "value"), OUT_OF_RANGE)
def test_ids_outside_the_documented_range_are_404(fuzz_app, world, path, method, name, value):
    # The README: an id outside 1..2**63-1 is a 404 like any other missing resource,
    # whatever the method (the document's parameter domain ends at its maximum).
    headers = {"Authorization": f"Bearer {world.ensure()}"}
    url = path.replace("{" + name + "}", str(value))

    response = fuzz_app.test_client().open(url, method=method.upper(), json={}, headers=headers)

    assert response.status_code == 404, f"{response.status_code} for {method.upper()} {url}"
    assert response.mimetype == "application/problem+json"
