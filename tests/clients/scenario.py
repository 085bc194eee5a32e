"""The client scenario through a Python client generated from the live document.

`tests/clients/run.py` generates the package `myapp_client` (openapi-python-client)
next to this file's copy, checks this file with `mypy --strict`, and runs it with
the server's URL. Nothing generated is edited, and nothing here reaches past the
generated functions and models: they are the test.
"""

from __future__ import annotations

import secrets
import sys
from http import HTTPStatus

from myapp_client import AuthenticatedClient, Client
from myapp_client.api.aliases import (
    aliases_create_alias,
    aliases_delete_alias,
    aliases_get_alias,
    aliases_list_aliases,
    aliases_update_alias,
)
from myapp_client.api.calc import calc_divide_numbers
from myapp_client.api.tokens import tokens_create_token
from myapp_client.api.users import users_create_user
from myapp_client.models import (
    AliasesCreateAliasBody,
    AliasesCreateAliasResponse201,
    AliasesListAliasesResponse200,
    AliasesUpdateAliasBody,
    AliasesUpdateAliasResponse200,
    Problem,
    ProblemErrorType0,
    TokensCreateTokenBody,
    TokensCreateTokenResponse200,
    UsersCreateUserBody,
    UsersCreateUserResponse201,
)
from myapp_client.types import UNSET, Unset


def step(name: str, ok: bool, detail: object = "") -> None:
    """Print one step's outcome; stop at the first that fails."""
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}".rstrip())
    if not ok:
        sys.exit(1)


def main(base_url: str) -> None:
    client = Client(base_url=base_url)
    email = f"py-{secrets.token_hex(4)}@example.com"
    password = "orchid mantle 91"

    created = users_create_user.sync(
        client=client, body=UsersCreateUserBody(email=email, name="Py Client", password=password)
    )
    step("sign up", isinstance(created, UsersCreateUserResponse201), created)
    assert isinstance(created, UsersCreateUserResponse201)
    step("the user's id is an int", isinstance(created.data.id, int), created.data.id)

    token = tokens_create_token.sync(
        client=client, body=TokensCreateTokenBody(email=email, password=password)
    )
    step("take a token", isinstance(token, TokensCreateTokenResponse200))
    assert isinstance(token, TokensCreateTokenResponse200)
    auth = AuthenticatedClient(base_url=base_url, token=token.data.access_token)

    ids = []
    for n in range(3):
        alias = aliases_create_alias.sync(
            client=auth, body=AliasesCreateAliasBody(target=f"to{n}@example.com")
        )
        step(f"create alias {n + 1}", isinstance(alias, AliasesCreateAliasResponse201))
        assert isinstance(alias, AliasesCreateAliasResponse201)
        ids.append(alias.data.id)

    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = aliases_list_aliases.sync(client=auth, limit=2, cursor=cursor or UNSET)
        step("list a page", isinstance(page, AliasesListAliasesResponse200))
        assert isinstance(page, AliasesListAliasesResponse200)
        seen += [alias.id for alias in page.data]
        if not page.meta.has_more:
            break
        next_cursor = page.meta.next_cursor
        assert isinstance(next_cursor, str)
        cursor = next_cursor
    step("the cursor walk saw each alias once", sorted(seen) == sorted(ids), seen)

    first = aliases_get_alias.sync_detailed(ids[0], client=auth)
    etag = first.headers["ETag"]
    again = aliases_get_alias.sync_detailed(ids[0], client=auth, if_none_match=etag)
    step("GET with If-None-Match", again.status_code == HTTPStatus.NOT_MODIFIED, again.status_code)

    change = AliasesUpdateAliasBody(description="changed by the Python client")
    stale = aliases_update_alias.sync_detailed(ids[0], client=auth, body=change, if_match='"stale"')
    step("PATCH with a stale If-Match", stale.status_code == HTTPStatus.PRECONDITION_FAILED)
    fresh = aliases_update_alias.sync_detailed(ids[0], client=auth, body=change, if_match=etag)
    step("PATCH with the right If-Match", fresh.status_code == HTTPStatus.OK)
    assert isinstance(fresh.parsed, AliasesUpdateAliasResponse200)
    step("the change is answered", fresh.parsed.data.description == change.description)

    deleted = aliases_delete_alias.sync_detailed(ids[0], client=auth)
    step("DELETE", deleted.status_code == HTTPStatus.NO_CONTENT, deleted.status_code)

    keyed = AliasesCreateAliasBody(target="retried@example.com")
    sent = [
        aliases_create_alias.sync_detailed(client=auth, body=keyed, idempotency_key="py-retry-1")
        for _ in range(2)
    ]
    parsed = [answer.parsed for answer in sent]
    step(
        "a retry with its Idempotency-Key replays the alias",
        all(isinstance(p, AliasesCreateAliasResponse201) for p in parsed)
        and parsed[0].data.id == parsed[1].data.id  # type: ignore[union-attr]
        and sent[1].headers.get("Idempotent-Replayed") == "true",
        [answer.status_code for answer in sent],
    )

    invalid = aliases_create_alias.sync(
        client=auth, body=AliasesCreateAliasBody(target="not an address")
    )
    step("a validation problem", isinstance(invalid, Problem), invalid)
    assert isinstance(invalid, Problem)
    errors = invalid.errors
    assert not isinstance(errors, Unset)
    pointer = errors[0]
    step("its errors are typed", isinstance(pointer, ProblemErrorType0), pointer)
    assert isinstance(pointer, ProblemErrorType0)
    step("it names the field", pointer.pointer == "#/target", pointer.detail)

    divided = calc_divide_numbers.sync(client=client, a=1, b=0)
    step("divide by zero", isinstance(divided, Problem) and divided.status == 422, divided)
    print("python client scenario: all steps passed")


if __name__ == "__main__":
    main(sys.argv[1])
