"""The OpenAPI document built from the app, the voluptuous conversion, /docs and `flask openapi`."""

from __future__ import annotations

import json
import re
import sys

import jsonschema
import pytest
import voluptuous as vol
from flask import Blueprint
from openapi_spec_validator import validate

from myapp import __version__
from myapp.auth import require_admin, require_auth
from myapp.core import ApiResult, Boolean, Email, Integer, Number, String, dataschema, queryschema
from myapp.core.openapi import RATE_LIMIT_HEADERS, build_openapi, documents, named
from myapp.core.ratelimit import exempt, ratelimit
from myapp.core.schema import to_json_schema
from myapp.core.validation import compile_schema
from myapp.core.validators import INT64_MAX, INT64_MIN
from tests.helpers import assert_problem, assert_standard_headers

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
NO_NUL = "^[^\\u0000]*$"
#: Every problem a JSON body can cause: malformed, too large, not JSON, invalid.
BODY_PROBLEMS = {"400", "413", "415", "422"}


def served_document(app) -> dict:
    """GET /openapi.json, parsed."""
    return json.loads(app.test_client().get("/openapi.json").data)


def dumps(document) -> str:
    return json.dumps(document, sort_keys=True)


def template(rule: str) -> str:
    """A Werkzeug rule as an OpenAPI path template: /v1/aliases/<id:alias_id> -> {alias_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


# -- the app's own document -----------------------------------------------------------------


def test_document_is_valid_openapi_3_1(app):
    document = served_document(app)

    validate(document)

    assert document["openapi"] == "3.1.0"
    info = document["info"]
    assert (info["title"], info["version"]) == ("myapp", __version__)
    assert "Authorization: Bearer" in info["description"]  # how to get and send a token
    assert set(info) == {"title", "version", "description", "contact", "license"}
    assert document["servers"] == [{"url": "/", "description": "This API."}]


def test_the_server_is_the_public_url_when_set(make_app):
    document = served_document(make_app(PUBLIC_URL="https://api.example.com/base"))

    assert document["servers"][0]["url"] == "https://api.example.com/base"


def test_every_tag_is_declared_with_its_blueprints_description(app):
    document = served_document(app)
    declared = {tag["name"]: tag["description"] for tag in document["tags"]}
    operations = [op for item in document["paths"].values() for op in item.values()]
    used = {tag for operation in operations for tag in operation["tags"]}

    assert set(declared) == used
    assert declared["aliases"].startswith("Email aliases")
    assert all(description for description in declared.values())


def test_document_is_stable_across_builds_and_apps(make_app):
    first, second = make_app(), make_app()

    info = {"title": "t", "version": "1"}
    builds = [build_openapi(app, info=info) for app in (first, first, second)]

    assert dumps(builds[0]) == dumps(builds[1]) == dumps(builds[2])
    assert first.test_client().get("/openapi.json").data == (
        second.test_client().get("/openapi.json").data
    )


def test_served_document_has_its_keys_sorted(app):
    body = app.test_client().get("/openapi.json").data

    assert body.decode() == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    assert list(served_document(app)["paths"]) == sorted(served_document(app)["paths"])


def test_document_covers_every_rule_and_method_in_the_url_map(app):
    # The document and the pages that show it are not operations.
    hidden = {"docs.docs", "docs.openapi", "docs.docs_asset", "docs.reference"}
    expected = {
        (template(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in hidden
        for method in rule.methods - SKIPPED_METHODS
    }

    paths = served_document(app)["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item}

    assert documented == expected
    assert len(expected) > 15


def test_operation_ids_are_unique(app):
    ids = [
        op["operationId"] for item in served_document(app)["paths"].values() for op in item.values()
    ]

    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/health", "get", {"200", "400"}),
        ("/v1/calc/add", "post", {"200", "429"} | BODY_PROBLEMS),
        ("/v1/auth/token", "post", {"200", "401", "429", "503"} | BODY_PROBLEMS),
        ("/v1/users", "get", {"200", "400", "401", "403", "429", "503"}),
        ("/v1/users/me", "delete", {"204", "400", "401", "429", "503"}),
        ("/v1/aliases/{alias_id}", "get", {"200", "304", "400", "401", "404", "429", "503"}),
    ],
)
def test_the_apps_own_routes_document_their_statuses(app, path, method, statuses):
    operation = served_document(app)["paths"][path][method]

    assert set(operation["responses"]) == statuses


def test_protected_routes_ask_for_a_bearer_token(app):
    document = served_document(app)

    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"}
    }
    assert document["paths"]["/v1/users/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/v1/users"]["post"]["security"] == []  # public, and says so


# -- a blueprint the document has never seen -------------------------------------------------


@pytest.fixture
def throwaway(make_app):
    """The document of a fresh app with a throwaway blueprint registered on it."""
    app = make_app()
    bp = Blueprint("throwaway", __name__, url_prefix="/throwaway")

    @bp.post("/things")
    @documents({"id": int, "name": str}, status=201, errors=(409,))
    @dataschema({"name": String(1, 50), vol.Optional("stars", default=3): Integer(0, 5)})
    def create_thing(data):
        """Create a thing.

        More words the summary leaves out.
        """
        return ApiResult({"id": 1, "name": data["name"]}, status=201)

    @bp.get("/things")
    @documents({"id": int}, pages="page")
    @queryschema({"q": String(1, 10), vol.Optional("page", default=1): Integer(1, 99)})
    def search_things(query):
        return query

    @bp.get("/things/<id:thing_id>")
    @documents({"id": int}, etag=True)
    @require_auth
    def get_thing(thing_id):
        return {"id": thing_id}

    @bp.delete("/things/<id:thing_id>")
    @documents(status=204, etag=True)
    @require_admin
    def delete_thing(thing_id):
        return ApiResult(None, status=204)

    @bp.get("/numbers/<int:n>/<float:x>/<name>/<path:rest>")
    @exempt
    def numbers(n, x, name, rest):
        return {}

    @bp.post("/login")
    @ratelimit("3/minute", name="throwaway-login", sensitive=True)
    @dataschema({"secret": str})
    def login(data):
        return {}

    app.register_blueprint(bp)
    return served_document(app)


def test_a_new_blueprint_appears_with_every_route(throwaway):
    paths = throwaway["paths"]

    validate(throwaway)
    assert set(paths["/throwaway/things"]) == {"get", "post"}
    assert set(paths["/throwaway/things/{thing_id}"]) == {"get", "delete"}
    assert set(paths["/throwaway/numbers/{n}/{x}/{name}/{rest}"]) == {"get"}
    assert set(paths["/throwaway/login"]) == {"post"}


def test_a_new_body_route_documents_its_schema_and_body_problems(throwaway):
    operation = throwaway["paths"]["/throwaway/things"]["post"]

    assert operation["operationId"] == "throwaway_create_thing"
    assert operation["summary"] == "Create a thing."
    assert operation["tags"] == ["throwaway"]
    assert operation["requestBody"] == {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 50,
                            "pattern": NO_NUL,
                        },
                        "stars": {"type": "integer", "minimum": 0, "maximum": 5, "default": 3},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                }
            }
        },
    }
    assert set(operation["responses"]) == {"201", "409", "429"} | BODY_PROBLEMS
    assert operation["security"] == []


def test_a_new_route_documents_its_success_envelope(throwaway):
    created = throwaway["paths"]["/throwaway/things"]["post"]["responses"]["201"]

    assert set(created["headers"]) == {"Location", "X-Request-ID", *RATE_LIMIT_HEADERS}
    assert created["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                "required": ["id", "name"],
                "additionalProperties": False,
            }
        },
        "required": ["data"],
    }


def test_a_new_query_route_documents_its_parameters_and_pages(throwaway):
    operation = throwaway["paths"]["/throwaway/things"]["get"]

    assert operation["parameters"] == [
        {
            "name": "page",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 99, "default": 1},
        },
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": NO_NUL},
        },
    ]
    assert set(operation["responses"]) == {"200", "400", "429"}
    envelope = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["required"] == ["data", "meta", "links"]
    assert envelope["properties"]["data"]["type"] == "array"
    assert envelope["properties"]["meta"] == {"$ref": "#/components/schemas/page_meta"}


def test_path_parameters_take_their_types_from_the_converters(throwaway):
    document = throwaway
    numbers = document["paths"]["/throwaway/numbers/{n}/{x}/{name}/{rest}"]["get"]
    by_id = document["paths"]["/throwaway/things/{thing_id}"]["get"]

    assert by_id["parameters"][0] == {
        "name": "thing_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    }
    assert [(p["name"], p["in"], p["required"], p["schema"]) for p in numbers["parameters"]] == [
        ("n", "path", True, {"type": "integer"}),
        ("x", "path", True, {"type": "number"}),
        ("name", "path", True, {"type": "string"}),
        ("rest", "path", True, {"type": "string"}),
    ]


def test_auth_decorators_give_security_401_and_403(throwaway):
    item = throwaway["paths"]["/throwaway/things/{thing_id}"]
    get, delete = item["get"], item["delete"]

    assert get["security"] == delete["security"] == [{"bearerAuth": []}]
    assert set(get["responses"]) == {"200", "304", "400", "401", "404", "429", "503"}
    assert set(delete["responses"]) == {"204", "400", "401", "403", "404", "412", "429", "503"}
    assert "content" not in delete["responses"]["204"]
    assert set(get["responses"]["200"]["headers"]) == {"ETag", "X-Request-ID", *RATE_LIMIT_HEADERS}


def test_limited_routes_document_429_and_exempt_ones_do_not(throwaway):
    paths = throwaway["paths"]
    login = paths["/throwaway/login"]["post"]["responses"]
    exempted = paths["/throwaway/numbers/{n}/{x}/{name}/{rest}"]["get"]["responses"]

    assert set(login) == {"200", "429", "503"} | BODY_PROBLEMS  # sensitive: fails closed
    assert set(exempted) == {"200", "400", "404"}


def test_problem_responses_point_at_the_problem_schema(throwaway):
    document = throwaway
    responses = document["paths"]["/throwaway/things"]["post"]["responses"]

    for status in BODY_PROBLEMS | {"409", "429"}:
        assert responses[status] == {"$ref": f"#/components/responses/{status}"}
        component = document["components"]["responses"][status]
        assert component["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "request_id"]


# -- voluptuous -> JSON Schema ---------------------------------------------------------------


def even(value):
    """A custom validator the converter knows nothing about."""
    if value % 2:
        raise vol.Invalid("must be even")
    return value


class Checker:
    """A callable object without a __name__."""

    def __call__(self, value):
        return value


def readable(value) -> str:
    """A test id without memory addresses: validators by name and settings."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{readable(k)}: {readable(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(readable(item) for item in value) + "]"
    if isinstance(value, (vol.Any, vol.All)):
        return f"{type(value).__name__}({', '.join(readable(v) for v in value.validators)})"
    if isinstance(value, vol.Marker):
        return f"{type(value).__name__}({value.schema!r})"
    if value is None or isinstance(value, (str, int, float)):
        return repr(value)
    name = getattr(value, "__name__", type(value).__name__)
    settings = {k: v for k, v in getattr(value, "__dict__", {}).items() if v is not None}
    if isinstance(value, type) or not settings:
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"


VALUES = [
    (String(), {"type": "string", "minLength": 0, "maxLength": 1000, "pattern": NO_NUL}),
    (String(2, 5), {"type": "string", "minLength": 2, "maxLength": 5, "pattern": NO_NUL}),
    (Integer(), {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}),
    (Integer(0, 5), {"type": "integer", "minimum": 0, "maximum": 5}),
    (Integer(None, None), {"type": "integer"}),
    (
        Number(),
        {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max},
    ),
    (Number(0, 1.5), {"type": "number", "minimum": 0, "maximum": 1.5}),
    (Number(min=0, max=None), {"type": "number", "minimum": 0}),
    (Boolean(), {"type": "boolean"}),
    (Email(), {"type": "string", "format": "email", "maxLength": 254}),
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    ("bearer", {"const": "bearer"}),
    (7, {"const": 7}),
    (True, {"const": True}),
    ([str], {"type": "array", "items": {"type": "string"}}),
    ([], {"type": "array"}),
    (
        [int, str],
        {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
    ),
    (vol.Any(str, None), {"anyOf": [{"type": "string"}, {"type": "null"}]}),
    (vol.Maybe(Boolean()), {"anyOf": [{"type": "null"}, {"type": "boolean"}]}),
    # All of parts that agree is one schema: generated clients make no type of an allOf.
    (
        vol.All(Integer(0, 9), even),
        {"type": "integer", "minimum": 0, "maximum": 9, "description": "checked by even"},
    ),
    (
        vol.All(Email(), String(3, 50)),
        {
            "allOf": [
                {"type": "string", "format": "email", "maxLength": 254},
                {"type": "string", "minLength": 3, "maxLength": 50, "pattern": NO_NUL},
            ]
        },
    ),
    (even, {"description": "checked by even"}),
    (Checker(), {"description": "checked by Checker"}),
    (vol.Length(min=1), {"description": "checked by Length"}),
    (vol.Match(r"^a"), {"description": "checked by Match"}),
    (lambda value: value, {"description": "checked by <lambda>"}),
]


@pytest.mark.parametrize(("schema", "expected"), VALUES, ids=[readable(s) for s, _ in VALUES])
def test_values_convert(schema, expected):
    assert to_json_schema(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"a": int, vol.Optional("b"): str},
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
            },
        ),
        (
            {vol.Optional("n", default=20): int, vol.Optional("tags", default=list): [str]},
            {
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "default": 20},
                    "tags": {"type": "array", "items": {"type": "string"}, "default": []},
                },
                "additionalProperties": False,
            },
        ),
        (
            {"outer": {"inner": bool}},
            {
                "type": "object",
                "properties": {
                    "outer": {
                        "type": "object",
                        "properties": {"inner": {"type": "boolean"}},
                        "required": ["inner"],
                        "additionalProperties": False,
                    }
                },
                "required": ["outer"],
                "additionalProperties": False,
            },
        ),
        (
            vol.Schema({vol.Required("a"): int, "b": int}, required=False, extra=vol.ALLOW_EXTRA),
            {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a"],
            },
        ),
        (
            vol.Schema({"z": int, "a": int}, required=True, extra=vol.PREVENT_EXTRA),
            {
                "type": "object",
                "properties": {"z": {"type": "integer"}, "a": {"type": "integer"}},
                "required": ["a", "z"],
                "additionalProperties": False,
            },
        ),
    ],
    ids=["required-and-optional", "defaults", "nested", "allow-extra", "required-sorted"],
)
def test_objects_convert(schema, expected):
    assert to_json_schema(schema) == expected


def test_dataschema_types_become_our_strict_validators():
    converted = to_json_schema(compile_schema({"n": int, "s": str, "f": float, "b": bool}))

    assert converted["properties"] == {
        "n": {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
        "s": {"type": "string", "minLength": 0, "maxLength": 1000, "pattern": NO_NUL},
        "f": {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max},
        "b": {"type": "boolean"},
    }
    assert converted["additionalProperties"] is False


AGREEMENT = [
    ({"name": String(1, 5)}, {"name": "ann"}),
    ({"name": String(1, 5)}, {"name": "a\x00"}),
    ({"name": String(1, 5)}, {"name": "toolong"}),
    ({"name": String(1, 5)}, {"name": "ann", "extra": 1}),
    ({"n": Integer(0, 5)}, {"n": 6}),
    ({"n": Integer(0, 5)}, {"n": 5}),
    ({"n": Integer()}, {"n": True}),
    ({"n": vol.Maybe(Integer())}, {"n": None}),
    ({"tags": [String()]}, {"tags": ["a", 1]}),
    ({"kind": vol.Any("a", "b")}, {"kind": "c"}),
    ({vol.Optional("on"): Boolean()}, {}),
    ({str: String()}, {"database": "ok"}),
    ({str: Integer()}, {"database": "ok"}),
]


@pytest.mark.parametrize(
    ("schema", "value"), AGREEMENT, ids=[f"{readable(s)} {v!r}" for s, v in AGREEMENT]
)
def test_the_converted_schema_agrees_with_voluptuous(schema, value):
    """Where JSON Schema can express the rule, both accept and refuse the same values."""
    compiled = compile_schema(schema)
    try:
        compiled(value)
    except vol.Invalid:
        accepted = False
    else:
        accepted = True

    errors = list(jsonschema.Draft202012Validator(to_json_schema(compiled)).iter_errors(value))

    assert (not errors) == accepted, errors


def test_an_unknown_validator_in_a_route_never_breaks_the_document(make_app):
    app = make_app()

    @app.post("/odd")
    @dataschema({"n": vol.All(int, even), "when": vol.Coerce(int), vol.Optional("x"): Checker()})
    def odd(data):
        return data

    properties = served_document(app)["paths"]["/odd"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]

    assert properties["n"]["type"] == "integer"
    assert properties["n"]["description"] == "checked by even"
    assert properties["when"] == {"description": "checked by Coerce"}
    assert properties["x"] == {"description": "checked by Checker"}


# -- serving it: /openapi.json, flask openapi, /docs -----------------------------------------


def test_openapi_json_is_the_bare_document(app):
    response = app.test_client().get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert_standard_headers(response)
    body = json.loads(response.data)
    assert set(body) == {"openapi", "info", "servers", "tags", "paths", "components"}
    assert "data" not in body


def test_flask_openapi_prints_the_served_document(app):
    result = app.test_cli_runner().invoke(args=["openapi"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == served_document(app)
    assert result.output == json.dumps(served_document(app), sort_keys=True, indent=2) + "\n"


@pytest.fixture
def docs_page(app):
    """The reference page without scripts."""
    response = app.test_client().get("/docs/reference")
    return response, response.get_data(as_text=True)


def test_docs_is_html_with_a_strict_content_security_policy(docs_page):
    response, html = docs_page

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert_standard_headers(response)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy


def test_docs_lists_every_operation(app, docs_page):
    html = docs_page[1]

    for path, item in served_document(app)["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in html, (method, path)
            assert f"<code>{path}</code>" in html


def test_docs_loads_nothing_from_elsewhere(docs_page):
    html = docs_page[1].lower()

    assert "<script" not in html
    assert "<link" not in html
    assert "@import" not in html
    assert re.findall(r"https?://[^\s\"'<>)]+", html) == []
    assert re.findall(r"(?:src|href)\s*=\s*[\"']?//", html) == []


def test_resources_are_named_schemas_referred_to_everywhere(app):
    document = served_document(app)
    schemas = document["components"]["schemas"]
    refs = []
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema:
                    data = schema["properties"]["data"]
                    refs.append(data.get("$ref") or data.get("items", {}).get("$ref"))

    assert refs.count("#/components/schemas/User") == 5
    assert refs.count("#/components/schemas/Alias") == 4
    alias = schemas["Alias"]["properties"]
    assert alias["created_at"] == alias["updated_at"] == {"type": "string", "format": "date-time"}
    assert alias["target"] == {"type": "string", "format": "email", "maxLength": 254}


def test_an_alias_address_is_one_string_schema(app):
    body = served_document(app)["paths"]["/v1/aliases"]["post"]["requestBody"]
    target = body["content"]["application/json"]["schema"]["properties"]["target"]

    assert target["type"] == "string"
    assert target["format"] == "email"
    assert "allOf" not in target


def test_conditional_headers_are_declared_where_they_are_honoured(app):
    paths = served_document(app)["paths"]

    def headers(path, method):
        return [p["name"] for p in paths[path][method].get("parameters", ()) if p["in"] == "header"]

    assert headers("/v1/aliases/{alias_id}", "get") == ["If-None-Match"]
    assert headers("/v1/aliases/{alias_id}", "patch") == ["If-Match"]
    assert headers("/v1/aliases/{alias_id}", "delete") == ["If-Match"]
    assert headers("/v1/users/me", "patch") == ["If-Match"]
    assert headers("/v1/calc/add", "post") == []
    assert set(paths["/v1/aliases/{alias_id}"]["get"]["responses"]["304"]["headers"]) == {
        "ETag",
        "X-Request-ID",
    }


def test_the_headers_the_contract_promises_are_declared(app):
    document = served_document(app)
    responses = document["components"]["responses"]
    users = document["paths"]["/v1/users"]["get"]["responses"]["200"]["headers"]

    assert {"Link", *RATE_LIMIT_HEADERS} <= set(users)
    assert {"Retry-After", *RATE_LIMIT_HEADERS} <= set(responses["429"]["headers"])
    assert "Retry-After" in responses["503"]["headers"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert set(document["components"]["headers"]) >= {"Link", "Retry-After", "WWW-Authenticate"}


def test_problem_errors_are_typed(app):
    schemas = served_document(app)["components"]["schemas"]

    assert schemas["Problem"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/ProblemError"
    }
    members = [item["required"][0] for item in schemas["ProblemError"]["oneOf"]]
    assert members == ["pointer", "parameter", "header"]


def test_two_different_schemas_may_not_share_a_name(make_app):
    app = make_app()

    @app.get("/one")
    @documents(named("Thing", {"a": int}))
    def one():
        return {"a": 1}

    @app.get("/two")
    @documents(named("Thing", {"b": str}))
    def two():
        return {"b": "x"}

    with pytest.raises(ValueError, match="two different schemas are named 'Thing'"):
        build_openapi(app, info={"title": "t", "version": "1"})


def test_docs_is_swagger_ui_served_by_the_app_under_a_strict_policy(app):
    client = app.test_client()
    response = client.get("/docs")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert_standard_headers(response)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy  # no inline script, nothing from elsewhere
    assert "unsafe" not in policy
    assert re.findall(r"https?://[^\s\"'<>)]+", html) == []
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources == [
        "docs/assets/swagger-ui.css",
        "docs/assets/favicon-32x32.png",
        "docs/reference",
        "docs/assets/swagger-ui-bundle.js",
        "docs/assets/docs.js",
    ]
    assert "/v1/auth/token" in html  # how to get a token
    assert "Authorize" in html


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
        ("docs.js", "text/javascript"),
    ],
)
def test_docs_assets_come_from_the_app(app, name, mimetype):
    response = app.test_client().get(f"/docs/assets/{name}")

    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert len(response.data) > 100
    assert response.headers["Cache-Control"] == "public, max-age=3600"


@pytest.mark.parametrize("name", ["index.html", "..%2FLICENSE", "swagger-editor.js", "LICENSE"])
def test_only_the_pages_own_assets_are_served(app, name):
    response = app.test_client().get(f"/docs/assets/{name}")

    assert_problem(response, 404)
