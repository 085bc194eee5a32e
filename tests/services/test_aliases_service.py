"""The aliases service on a real Session, and the alias views called for their results."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from myapp.core import ApiResult, PreconditionFailed, ValidationFailed
from myapp.core.conditional import etag_of
from myapp.core.pagination import CursorResult
from myapp.db import get_engine
from myapp.models import Alias
from myapp.services import aliases as aliases_service
from myapp.services.aliases import (
    GENERATE_ATTEMPTS,
    WORDS,
    AddressTaken,
    AliasQuotaExceeded,
    create_alias,
    delete_alias,
    generate_address,
    get_alias,
    list_aliases,
    resolve,
    update_alias,
)
from myapp.services.tokens import issue_token

DOMAINS = ["alias.example", "second.example"]
BASE_TIME = datetime(2024, 5, 1, 12, 0, 0)
ALIAS_KEYS = {"id", "address", "target", "description", "enabled", "created_at", "updated_at"}


def make(session, owner, quota=1000, **fields):
    """create_alias with a default target and the test domains, committed as a view does."""
    fields.setdefault("target", "me@example.com")
    alias = create_alias(session, owner.id, domains=DOMAINS, quota=quota, **fields)
    session.commit()
    return alias


def count_rows(app, owner_id=None):
    """How many aliases exist, read in a session of its own."""
    query = select(func.count()).select_from(Alias)
    if owner_id is not None:
        query = query.where(Alias.owner_id == owner_id)
    with Session(get_engine(app)) as fresh:
        return fresh.scalar(query)


def add_at(session, owner, moments, prefix="row", **fields):
    """Insert aliases with these creation times; return them in the same order."""
    rows = [
        Alias(
            owner_id=owner.id,
            address=f"{prefix}-{n}@alias.example",
            target="me@example.com",
            created_at=moment,
            updated_at=moment,
            **fields,
        )
        for n, moment in enumerate(moments)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def ids(rows):
    """The ids of some aliases."""
    return [row.id for row in rows]


# -- create -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    ["shop@alias.example", "Shop@Alias.Example", "  SHOP@alias.example\t", "shop@ALIAS.EXAMPLE"],
)
def test_create_alias_normalizes_the_address(app, session, ada, given):
    alias = make(session, ada, address=given, description="groceries")

    assert alias.id is not None
    assert alias.address == "shop@alias.example"
    assert alias.owner_id == ada.id
    assert alias.description == "groceries"
    assert alias.enabled is True
    assert timedelta(0) <= alias.updated_at - alias.created_at < timedelta(seconds=1)
    assert count_rows(app, ada.id) == 1


def test_create_alias_accepts_any_configured_domain(session, ada):
    assert make(session, ada, address="x@second.example").address == "x@second.example"


@pytest.mark.parametrize(
    "address", ["x@other.example", "x@sub.alias.example", "x@alias.example.org", "no-at-sign"]
)
def test_create_alias_refuses_other_domains(app, session, ada, address):
    with pytest.raises(ValidationFailed) as caught:
        make(session, ada, address=address)

    assert caught.value.status == 422
    assert [error["pointer"] for error in caught.value.errors] == ["#/address"]
    assert "alias.example, second.example" in caught.value.errors[0]["detail"]
    assert count_rows(app) == 0


@pytest.mark.parametrize("target", ["me@alias.example", "me@Second.Example", "me@ALIAS.EXAMPLE"])
def test_create_alias_refuses_a_target_at_an_alias_domain(app, session, ada, target):
    with pytest.raises(ValidationFailed) as caught:
        make(session, ada, address="shop@alias.example", target=target)

    assert [error["pointer"] for error in caught.value.errors] == ["#/target"]
    assert count_rows(app) == 0


def test_an_address_is_unique_across_owners(app, session, ada, bob):
    make(session, ada, address="shop@alias.example")

    with pytest.raises(AddressTaken) as caught:
        make(session, bob, address="SHOP@alias.example")

    assert caught.value.status == 409
    assert caught.value.type == "address-taken"
    # The session is usable afterwards.
    assert make(session, bob, address="other@alias.example").owner_id == bob.id
    assert count_rows(app, bob.id) == 1


def test_generate_address_is_word_word_four_digits(monkeypatch):
    addresses = {generate_address("alias.example") for _ in range(200)}

    assert len(addresses) > 190
    for address in addresses:
        match = re.fullmatch(r"([a-z]+)-([a-z]+)-(\d{4})@alias\.example", address)
        assert match
        assert match[1] in WORDS
        assert match[2] in WORDS


def test_a_generated_address_is_at_the_first_domain(session, ada):
    alias = make(session, ada)

    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{4}@alias\.example", alias.address)


@pytest.mark.parametrize("taken_calls", [1, GENERATE_ATTEMPTS - 1])
def test_a_taken_generated_address_is_retried(app, session, ada, monkeypatch, taken_calls):
    make(session, ada, address="taken-taken-0000@alias.example")
    calls = []

    def fake(domain):
        calls.append(domain)
        return (
            "taken-taken-0000@" + domain if len(calls) <= taken_calls else f"free-x-0001@{domain}"
        )

    monkeypatch.setattr(aliases_service, "generate_address", fake)

    alias = make(session, ada)

    assert alias.address == "free-x-0001@alias.example"
    assert calls == ["alias.example"] * GENERATE_ATTEMPTS
    assert count_rows(app) == 2


def test_generated_addresses_give_up_after_every_attempt_collides(app, session, ada, monkeypatch):
    make(session, ada, address="taken-taken-0000@alias.example")
    monkeypatch.setattr(aliases_service, "generate_address", lambda d: f"taken-taken-0000@{d}")

    with pytest.raises(AddressTaken):
        make(session, ada)

    assert count_rows(app) == 1


def test_the_quota_counts_only_the_owners_aliases(app, session, ada, bob):
    make(session, ada, quota=2)
    make(session, ada, quota=2)
    make(session, bob, quota=2)

    with pytest.raises(AliasQuotaExceeded) as caught:
        make(session, ada, quota=2, address="third@alias.example")

    assert caught.value.status == 422
    assert caught.value.type == "alias-quota-exceeded"
    assert "2" in str(caught.value)
    assert count_rows(app, ada.id) == 2
    assert make(session, bob, quota=2).owner_id == bob.id


# -- list -------------------------------------------------------------------------------------


def test_list_aliases_is_newest_first_with_ties_by_higher_id(session, ada, bob):
    rows = add_at(session, ada, [BASE_TIME, BASE_TIME + timedelta(seconds=1), BASE_TIME, BASE_TIME])
    add_at(session, bob, [BASE_TIME + timedelta(days=1)], prefix="bob")

    items, more = list_aliases(session, ada.id, limit=10)

    assert ids(items) == [rows[1].id, rows[3].id, rows[2].id, rows[0].id]
    assert more is False


def test_list_aliases_pages_by_keyset(session, ada):
    rows = add_at(session, ada, [BASE_TIME + timedelta(seconds=n // 3) for n in range(10)])
    expected = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)

    seen, after, pages = [], None, 0
    while True:
        items, more = list_aliases(session, ada.id, limit=3, after=after)
        seen += items
        pages += 1
        if not more:
            break
        after = (items[-1].created_at, items[-1].id)

    assert ids(seen) == ids(expected)
    assert pages == 4


@pytest.mark.parametrize(("limit", "more"), [(2, True), (3, False), (4, False)])
def test_has_more_is_exact(session, ada, limit, more):
    add_at(session, ada, [BASE_TIME] * 3)

    items, has_more = list_aliases(session, ada.id, limit=limit)

    assert len(items) == min(limit, 3)
    assert has_more is more


def test_after_excludes_the_position_and_everything_before_it(session, ada):
    rows = add_at(session, ada, [BASE_TIME, BASE_TIME, BASE_TIME + timedelta(seconds=1)])

    items, more = list_aliases(session, ada.id, limit=10, after=(BASE_TIME, rows[1].id))

    assert ids(items) == [rows[0].id]
    assert more is False


@pytest.mark.parametrize(
    ("enabled", "q", "expected"),
    [
        (True, None, ["on-100%", "on_under"]),
        (False, None, ["off-slash\\"]),
        (None, "%", ["on-100%"]),
        (None, "_", ["on_under"]),
        (None, "\\", ["off-slash\\"]),
        (None, "ON", ["on-100%", "on_under"]),
        (None, "under", ["on_under"]),
        (False, "on", []),
        (None, "zzz", []),
    ],
)
def test_list_filters(session, ada, enabled, q, expected):
    rows = (("on-100%", True), ("on_under", True), ("off-slash\\", False))
    for n, (description, is_on) in enumerate(rows):
        make(session, ada, address=f"a{n}@alias.example", description=description, enabled=is_on)

    items, _ = list_aliases(session, ada.id, limit=10, enabled=enabled, q=q)

    assert sorted(item.description for item in items) == expected


def test_q_matches_the_address_too(session, ada):
    make(session, ada, address="findme@alias.example", description="")
    make(session, ada, address="other@alias.example", description="")

    items, _ = list_aliases(session, ada.id, limit=10, q="FINDME")

    assert [item.address for item in items] == ["findme@alias.example"]


# -- get, update, delete, resolve ---------------------------------------------------------------


def test_get_alias_is_none_for_another_owner_or_a_missing_id(session, ada, bob):
    alias = make(session, ada)

    assert get_alias(session, ada.id, alias.id) is alias
    assert get_alias(session, ada.id, alias.id, lock=True) is alias
    assert get_alias(session, bob.id, alias.id) is None
    assert get_alias(session, ada.id, alias.id + 1000) is None


def test_update_alias_changes_only_target_description_and_enabled(app, session, ada, bob):
    alias = make(session, ada, address="shop@alias.example", description="old")
    past = BASE_TIME
    alias.created_at = alias.updated_at = past
    session.commit()

    changes = {
        "target": "new@example.org",
        "description": "new",
        "enabled": False,
        "address": "stolen@alias.example",
        "owner_id": bob.id,
        "id": 999,
    }
    updated = update_alias(session, alias, changes, domains=DOMAINS)

    assert updated is alias
    with Session(get_engine(app)) as fresh:
        stored = fresh.get(Alias, alias.id)
        assert (stored.target, stored.description, stored.enabled) == (
            "new@example.org",
            "new",
            False,
        )
        assert stored.address == "shop@alias.example"
        assert stored.owner_id == ada.id
        assert stored.created_at == past
        assert stored.updated_at > past


def test_update_alias_refuses_a_target_at_an_alias_domain(app, session, ada):
    alias = make(session, ada, description="old")

    with pytest.raises(ValidationFailed) as caught:
        update_alias(
            session, alias, {"target": "x@alias.example", "description": "new"}, domains=DOMAINS
        )

    assert [error["pointer"] for error in caught.value.errors] == ["#/target"]
    session.rollback()
    with Session(get_engine(app)) as fresh:
        stored = fresh.get(Alias, alias.id)
        assert (stored.target, stored.description) == ("me@example.com", "old")


def test_delete_alias(app, session, ada):
    alias = make(session, ada)
    kept = make(session, ada)

    delete_alias(session, alias)

    assert get_alias(session, ada.id, alias.id) is None
    assert get_alias(session, ada.id, kept.id) is kept
    assert count_rows(app) == 1


@pytest.mark.parametrize(
    ("address", "found"),
    [
        ("on@alias.example", True),
        ("ON@Alias.Example", True),
        (" on@alias.example ", True),
        ("off@alias.example", False),
        ("missing@alias.example", False),
        ("on@second.example", False),
    ],
)
def test_resolve_finds_only_enabled_aliases(session, ada, address, found):
    on = make(session, ada, address="on@alias.example", target="ada@example.com")
    make(session, ada, address="off@alias.example", enabled=False)

    result = resolve(session, address)

    assert (result is on) if found else (result is None)


# -- the views, called directly -------------------------------------------------------------------


@pytest.fixture
def auth(session, ada):
    """An Authorization header for Ada."""
    return {"Authorization": f"Bearer {issue_token(session, ada, ttl=3600)}"}


def test_list_view_returns_a_cursor_result(app, session, ada, bob, auth):
    rows = add_at(session, ada, [BASE_TIME] * 3, description="match")
    add_at(session, ada, [BASE_TIME], prefix="zzz", description="other")
    add_at(session, bob, [BASE_TIME], prefix="bob", description="match")

    with app.test_request_context("/v1/aliases?limit=2&q=match", headers=auth):
        result = app.view_functions["aliases.list_aliases"]()
    with app.test_request_context(result.links["next"], headers=auth):
        following = app.view_functions["aliases.list_aliases"]()

    assert isinstance(result, CursorResult)
    assert result.status == 200
    assert [item["id"] for item in result.value] == [rows[2].id, rows[1].id]
    assert all(set(item) == ALIAS_KEYS for item in result.value)
    cursor = result.meta["next_cursor"]
    assert result.meta == {"limit": 2, "has_more": True, "next_cursor": cursor}
    assert result.links == {
        "self": "http://localhost/v1/aliases?limit=2&q=match",
        "next": f"http://localhost/v1/aliases?limit=2&q=match&cursor={cursor}",
    }
    assert result.headers["Link"] == (
        f'<{result.links["self"]}>; rel="self", <{result.links["next"]}>; rel="next"'
    )
    assert result.envelope() == {"data": result.value, "meta": result.meta, "links": result.links}
    assert [item["id"] for item in following.value] == [rows[0].id]
    assert following.meta == {"limit": 2, "has_more": False}
    assert set(following.links) == {"self"}


def test_list_view_last_page(app, session, ada, auth):
    rows = add_at(session, ada, [BASE_TIME] * 2)

    with app.test_request_context("/v1/aliases?enabled=true", headers=auth):
        result = app.view_functions["aliases.list_aliases"]()

    assert [item["id"] for item in result.value] == [rows[1].id, rows[0].id]
    assert result.meta == {"limit": 20, "has_more": False}
    assert result.links == {"self": "http://localhost/v1/aliases?enabled=true&limit=20"}
    assert result.headers["Link"] == f'<{result.links["self"]}>; rel="self"'


def test_get_view_returns_the_alias_with_its_etag(app, session, ada, auth):
    alias = make(session, ada, address="shop@alias.example")

    with app.test_request_context(f"/v1/aliases/{alias.id}", headers=auth):
        result = app.view_functions["aliases.get_alias"](alias_id=alias.id)

    assert isinstance(result, ApiResult)
    assert result.status == 200
    assert result.value == alias.to_dict()
    assert result.headers["ETag"] == f'"{etag_of(alias.to_dict())}"'


def test_get_view_is_a_bodiless_304_for_a_matching_if_none_match(app, session, ada, auth):
    alias = make(session, ada)
    etag = f'"{etag_of(alias.to_dict())}"'

    with app.test_request_context(
        f"/v1/aliases/{alias.id}", headers={**auth, "If-None-Match": etag}
    ):
        result = app.view_functions["aliases.get_alias"](alias_id=alias.id)

    assert result.status == 304
    assert result.value is None
    assert result.headers["ETag"] == etag


def test_create_view_is_201_with_location_and_etag(app, session, ada, auth):
    body = {"address": "Shop@alias.example", "target": "me@example.com"}

    with app.test_request_context("/v1/aliases", method="POST", json=body, headers=auth):
        result = app.view_functions["aliases.create_alias"]()

    assert result.status == 201
    assert set(result.value) == ALIAS_KEYS
    assert result.value["address"] == "shop@alias.example"
    assert result.headers["Location"] == f"http://localhost/v1/aliases/{result.value['id']}"
    assert result.headers["ETag"] == f'"{etag_of(result.value)}"'
    assert count_rows(app, ada.id) == 1


def test_update_view_with_a_stale_if_match_raises_412_and_changes_nothing(app, session, ada, auth):
    alias = make(session, ada, description="old")
    headers = {**auth, "If-Match": '"stale"'}

    with (
        app.test_request_context(
            f"/v1/aliases/{alias.id}", method="PATCH", json={"description": "new"}, headers=headers
        ),
        pytest.raises(PreconditionFailed) as caught,
    ):
        app.view_functions["aliases.update_alias"](alias_id=alias.id)

    assert caught.value.status == 412
    with Session(get_engine(app)) as fresh:
        assert fresh.get(Alias, alias.id).description == "old"


def test_update_view_with_the_current_if_match(app, session, ada, auth):
    alias = make(session, ada, description="old")
    headers = {**auth, "If-Match": f'"{etag_of(alias.to_dict())}"'}

    with app.test_request_context(
        f"/v1/aliases/{alias.id}", method="PATCH", json={"description": "new"}, headers=headers
    ):
        result = app.view_functions["aliases.update_alias"](alias_id=alias.id)

    assert result.status == 200
    assert result.value["description"] == "new"
    assert result.headers["ETag"] == f'"{etag_of(result.value)}"'


def test_delete_view_is_204(app, session, ada, auth):
    alias = make(session, ada)

    with app.test_request_context(f"/v1/aliases/{alias.id}", method="DELETE", headers=auth):
        result = app.view_functions["aliases.delete_alias"](alias_id=alias.id)

    assert result.status == 204
    assert result.value is None
    assert count_rows(app) == 0
