"""schemathesis against the app in-process, from the app's own OpenAPI document, all checks on.

The schema is loaded at import (schemathesis makes one test per operation at collection)
from an app built like the fuzzed one; each test then points the operation at its own app
on a fresh database and first checks that this app serves the very same document.
Operations with `security` get the admin's bearer token through a schemathesis auth
provider, so schemathesis knows the credentials are real and still removes them on the
cases that test a missing or invalid token.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.fuzz.conftest import CASES, document_app

# Where a request that fits the document may still rightly be refused, because what
# decides it is state no JSON Schema can hold. Each entry names the operation and why;
# every other check, and this one for every other operation, stays as schemathesis has it.
STATEFUL_REFUSALS = """
# A body the document refuses may also be refused for its size: a route reads no more
# than its own limit (413), which a generator's long strings can pass.
[checks.negative_data_rejection]
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]

[[operations]]
# A password too easy to guess (a common one, a repeated pattern, a run of keys, or
# one holding the account's own email name or name) is a 422 naming it: rules that
# read the other fields, beyond what a JSON Schema holds.
include-operation-id = "users_create_user"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
# A new password needs the *correct* current one (and, as above, a hard one to
# guess): 422 names current_password or password. An If-Match that is not the
# account's current ETag is a 412.
include-operation-id = "users_update_me"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "401", "403", "404", "409", "412", "422",
]

[[operations]]
# An If-Match that is not the alias's current ETag is a 412.
include-operation-id = ["aliases_update_alias", "aliases_delete_alias"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "412"]

[[operations]]
# An If-None-Match that is the resource's current ETag is a 304.
include-operation-id = ["aliases_get_alias", "users_get_me", "users_get_user"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "304", "401", "403", "404"]

[[operations]]
# A cursor is a signed token this list gave out; any other string is a 400 naming it.
include-operation-id = "aliases_list_aliases"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404"]

[[operations]]
# Dividing by zero, or into a result past the float range, is an impossible operation:
# 422 with its own problem type (contract section 3), not a malformed request.
include-operation-id = "calc_divide_numbers"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]
"""

DOCUMENT_APP = document_app()
DOCUMENT = DOCUMENT_APP.test_client().get("/openapi.json").get_data()
schema = schemathesis.openapi.from_wsgi(
    "/openapi.json", DOCUMENT_APP, config=SchemathesisConfig.from_str(STATEFUL_REFUSALS)
)
#: Stands in for the admin's token until a case runs: coverage cases are built at collection.
PLACEHOLDER = "Bearer placeholder-for-the-fuzz-admin-token"


@schema.auth(refresh_interval=None)
class AdminBearer:
    """Bearer credentials for the operations whose document entry asks for them."""

    def get(self, case, context):
        return PLACEHOLDER if case.operation.definition.raw.get("security") else None

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture
def served_document(fuzz_app):
    """The fuzzed app's own document, which must be the one schemathesis generated from."""
    served = fuzz_app.test_client().get("/openapi.json").get_data()
    assert served == DOCUMENT
    return json.loads(served)


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_api_conforms_to_its_document(case, fuzz_app, world, served_document):
    # One app serves every case of the operation, and the world is repaired before each.
    case.operation.app = fuzz_app
    token = world.ensure()
    if case.headers and case.headers.get("Authorization") == PLACEHOLDER:
        case.headers["Authorization"] = f"Bearer {token}"
    CASES["schemathesis", case.operation.label] += 1
    case.call_and_validate()
