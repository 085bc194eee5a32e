"""/v1/aliases over HTTP: create, cursor pages, conditional requests, ownership, resolve."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from myapp.db import get_engine
from myapp.models import Alias
from myapp.services import aliases as aliases_service
from myapp.services.users import create_user
from tests.helpers import (
    assert_conditional,
    assert_problem,
    assert_standard_headers,
    assert_success,
)

PASSWORD = "correct horse battery"
#: Everything an alias body contains, no more (no owner_id, no internals).
ALIAS_KEYS = {"id", "address", "target", "description", "enabled", "created_at", "updated_at"}
GENERATED = re.compile(r"^[a-z]+-[a-z]+-\d{4}@alias\.example$")
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
STRONG_ETAG = re.compile(r'"[^"\s]+"')
LINK = re.compile(r'<([^>]*)>; rel="([^"]+)"')
TYPE_BASE = "https://myapp.dev/problems/"
VALIDATION = TYPE_BASE + "validation-error"
INVALID_PARAMETERS = TYPE_BASE + "invalid-parameters"
BASE_TIME = datetime(2024, 5, 1, 12, 0, 0)


class Caller(NamedTuple):
    """A signed-in user: their id and the Authorization header of a live token."""

    id: int
    auth: dict[str, str]


@pytest.fixture
def app(make_app):
    """The app, with a sign-in limit loose enough for tests that sign in several users."""
    return make_app(RATELIMIT_AUTH="1000/minute")


def sign_in(client, email):
    """Sign in over HTTP and return the Authorization header of the new token."""
    response = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['data']['access_token']}"}


def sign_up(client, email):
    """Create a user over HTTP, sign them in, and return them as a Caller."""
    response = client.post("/v1/users", json={"email": email, "name": "N", "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return Caller(response.get_json()["data"]["id"], sign_in(client, email))


@pytest.fixture
def alice(client):
    """The first user."""
    return sign_up(client, "alice@example.com")


@pytest.fixture
def bob(client):
    """A second user, who must never see the first one's aliases."""
    return sign_up(client, "bob@example.com")


@pytest.fixture
def admin(app, client):
    """An administrator (made with the service: the API cannot make one), signed in."""
    with Session(get_engine(app)) as session:
        user = create_user(
            session,
            email="root@example.com",
            name="Root",
            password=PASSWORD,
            hash_method=app.config["PASSWORD_HASH_METHOD"],
            is_admin=True,
        )
        user_id = user.id
    return Caller(user_id, sign_in(client, "root@example.com"))


def post_alias(client, caller, **body):
    """POST /v1/aliases with a default target."""
    body.setdefault("target", "me@example.com")
    return client.post("/v1/aliases", json=body, headers=caller.auth)


def assert_alias(alias):
    """An alias body: exactly the public keys, well typed."""
    assert set(alias) == ALIAS_KEYS
    assert isinstance(alias["id"], int)
    assert isinstance(alias["enabled"], bool)
    assert isinstance(alias["description"], str)
    assert RFC3339_UTC.fullmatch(alias["created_at"])
    assert RFC3339_UTC.fullmatch(alias["updated_at"])
    return alias


def new_alias(client, caller, **body):
    """Create an alias over HTTP and return its body."""
    response = post_alias(client, caller, **body)
    return assert_alias(assert_success(response, 201))


def get_alias(client, caller, alias_id, **headers):
    """GET one alias."""
    return client.get(f"/v1/aliases/{alias_id}", headers={**caller.auth, **headers})


def count_aliases(app, owner_id=None):
    """How many aliases the database holds (of one owner, or in all)."""
    query = select(func.count()).select_from(Alias)
    if owner_id is not None:
        query = query.where(Alias.owner_id == owner_id)
    with Session(get_engine(app)) as session:
        return session.scalar(query)


def run_sql(app, statement):
    """Execute and commit one statement on the app's database."""
    with Session(get_engine(app)) as session:
        session.execute(statement)
        session.commit()


def insert_aliases(app, owner_id, created_ats, prefix="bulk"):
    """Insert aliases directly (fast), one per creation time; return their ids in order."""
    rows = [
        {
            "owner_id": owner_id,
            "address": f"{prefix}-{n}@alias.example",
            "target": "me@example.com",
            "description": f"{prefix} {n}",
            "enabled": True,
            "created_at": moment,
            "updated_at": moment,
        }
        for n, moment in enumerate(created_ats)
    ]
    with Session(get_engine(app)) as session:
        session.execute(insert(Alias), rows)
        session.commit()
        addresses = [row["address"] for row in rows]
        query = select(Alias.address, Alias.id).where(Alias.address.in_(addresses))
        by_address = dict(session.execute(query).all())
    return [by_address[address] for address in addresses]


def sort_keys(app, owner_id):
    """Each of the owner's alias ids mapped to its newest-first sort key."""
    with Session(get_engine(app)) as session:
        rows = session.execute(
            select(Alias.id, Alias.created_at).where(Alias.owner_id == owner_id)
        ).all()
    return {alias_id: (created_at, alias_id) for alias_id, created_at in rows}


def newest_first(keys):
    """Ids ordered as the contract says: creation time descending, then id descending."""
    return [alias_id for alias_id, _ in sorted(keys.items(), key=lambda kv: kv[1], reverse=True)]


def link_header(response):
    """The Link header as {rel: url}."""
    return {rel: url for url, rel in LINK.findall(response.headers["Link"])}


def query_of(url):
    """The query of an absolute URL of the alias list, one value per name."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost", "/v1/aliases")
    query = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values())
    return {name: values[0] for name, values in query.items()}


def list_page(client, caller, url="/v1/aliases"):
    """GET one list page and check its envelope, links and Link header; return the body."""
    response = client.get(url, headers=caller.auth)
    assert_success(response)
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    for alias in body["data"]:
        assert_alias(alias)
    meta, links = body["meta"], body["links"]
    assert link_header(response) == links
    if meta["has_more"]:
        assert set(meta) == {"limit", "has_more", "next_cursor"}
        assert set(links) == {"self", "next"}
        assert query_of(links["next"])["cursor"] == meta["next_cursor"]
    else:
        assert set(meta) == {"limit", "has_more"}
        assert set(links) == {"self"}
    assert len(body["data"]) <= meta["limit"]
    return body


def walk(client, caller, url):
    """Follow links.next from `url` until it is absent; return the ids seen, page by page."""
    pages = []
    while url:
        body = list_page(client, caller, url)
        pages.append([alias["id"] for alias in body["data"]])
        url = body["links"].get("next")
        assert len(pages) < 1000
    return pages


def without(body, *keys):
    """A problem body minus the members that differ per request."""
    return {key: value for key, value in body.items() if key not in keys}


def flip(text, index):
    """Change one character (not a base64 tail character, whose low bits may not count)."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def assert_parameter_error(response, parameter):
    """A 400 naming exactly this query parameter."""
    body = assert_problem(response, 400, INVALID_PARAMETERS)
    assert [error["parameter"] for error in body["errors"]] == [parameter]
    assert all(error["detail"] for error in body["errors"])
    return body


def assert_validation_error(response, *pointers):
    """A 422 naming exactly these body fields; return {pointer: detail}."""
    body = assert_problem(response, 422, VALIDATION)
    assert [error["pointer"] for error in body["errors"]] == list(pointers)
    return {error["pointer"]: error["detail"] for error in body["errors"]}


# -- creating ---------------------------------------------------------------------------------


def test_create_is_201_with_an_absolute_location_an_etag_and_the_alias(app, client, alice):
    response = post_alias(
        client, alice, address="shop@alias.example", target="Me@Example.com", description="shop"
    )

    alias = assert_alias(assert_success(response, 201))
    assert set(response.get_json()) == {"data"}
    assert alias["address"] == "shop@alias.example"
    assert alias["target"] == "Me@example.com"
    assert alias["description"] == "shop"
    assert alias["enabled"] is True
    assert response.headers["Location"] == f"http://localhost/v1/aliases/{alias['id']}"
    assert STRONG_ETAG.fullmatch(response.headers["ETag"])

    fetched = client.get(response.headers["Location"], headers=alice.auth)
    assert assert_success(fetched) == alias
    assert fetched.headers["ETag"] == response.headers["ETag"]
    assert count_aliases(app, alice.id) == 1


@pytest.mark.parametrize(
    "given",
    [
        "Shop@Alias.Example",
        "SHOP@ALIAS.EXAMPLE",
        "shop@ALIAS.example",
        pytest.param(
            "  Shop@alias.example ",
        ),
        pytest.param(
            "shop@alias.example\t",
        ),
    ],
)
def test_the_address_is_stored_normalized(client, alice, given):
    alias = new_alias(client, alice, address=given)

    assert alias["address"] == "shop@alias.example"


@pytest.mark.parametrize(
    "second", ["shop@alias.example", "SHOP@alias.example", "sHoP@Alias.Example"]
)
@pytest.mark.parametrize("same_user", [True, False], ids=["same-user", "other-user"])
def test_an_address_taken_by_anyone_in_any_case_is_a_409(
    app, client, alice, bob, second, same_user
):
    new_alias(client, alice, address="Shop@alias.example")

    response = post_alias(client, alice if same_user else bob, address=second)

    body = assert_problem(response, 409, None)
    assert body["type"].endswith("/address-taken")
    assert body["type"] == TYPE_BASE + "address-taken"
    assert "ETag" not in response.headers
    assert "Location" not in response.headers
    assert count_aliases(app) == 1
    assert count_aliases(app, bob.id) == 0


@pytest.mark.parametrize(
    "address",
    [
        "shop@other.example",
        "shop@sub.alias.example",
        "shop@alias.example.com",
        "shop@xalias.example",
        "not-an-address",
        "shop@alias",
        "",
        "a" * 250 + "@alias.example",
    ],
)
def test_an_address_outside_the_alias_domains_is_a_422(app, client, alice, address):
    response = post_alias(client, alice, address=address)

    errors = assert_validation_error(response, "#/address")
    assert errors["#/address"]
    assert count_aliases(app) == 0


def test_the_domain_error_names_the_allowed_domains(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", ALIAS_DOMAINS=["a.example", "b.example"])
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")

    refused = post_alias(client, alice, address="x@c.example")
    second = new_alias(client, alice, address="x@b.example")
    generated = new_alias(client, alice)

    errors = assert_validation_error(refused, "#/address")
    assert "a.example" in errors["#/address"]
    assert "b.example" in errors["#/address"]
    assert second["address"] == "x@b.example"
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{4}@a\.example", generated["address"])


def test_an_omitted_address_is_generated_at_the_first_domain(client, alice):
    first = new_alias(client, alice)
    second = new_alias(client, alice, description="another")

    assert GENERATED.fullmatch(first["address"])
    assert GENERATED.fullmatch(second["address"])
    assert first["address"] != second["address"]
    assert first["id"] != second["id"]


@pytest.mark.parametrize("taken_calls", [1, 3, 7])
def test_a_generated_address_that_is_taken_is_retried(app, client, alice, monkeypatch, taken_calls):
    taken = new_alias(client, alice, address="taken-taken-0001@alias.example")["address"]
    calls = []

    def fake_generate(domain):
        calls.append(domain)
        if len(calls) <= taken_calls:
            return taken
        return f"free-word-{len(calls):04d}@{domain}"

    monkeypatch.setattr(aliases_service, "generate_address", fake_generate)

    alias = new_alias(client, alice)

    assert alias["address"] == f"free-word-{taken_calls + 1:04d}@alias.example"
    assert GENERATED.fullmatch(alias["address"])
    assert set(calls) == {"alias.example"}
    assert count_aliases(app, alice.id) == 2


def test_a_generated_address_that_is_always_taken_is_a_409(app, client, alice, monkeypatch):
    taken = new_alias(client, alice, address="taken-taken-0001@alias.example")["address"]
    monkeypatch.setattr(aliases_service, "generate_address", lambda domain: taken)

    response = post_alias(client, alice)

    body = assert_problem(response, 409, TYPE_BASE + "address-taken")
    assert body["instance"] == "/v1/aliases"
    assert count_aliases(app) == 1
    # The failed attempt left the session usable: the next request works.
    monkeypatch.undo()
    assert GENERATED.fullmatch(new_alias(client, alice)["address"])


@pytest.mark.parametrize(
    "target",
    [
        "not-an-email",
        "me@",
        "@example.com",
        "me@example",
        "me @example.com",
        "",
        "me@alias.example",
        "me@ALIAS.EXAMPLE",
        "a" * 65 + "@example.com",
    ],
)
def test_the_target_must_be_a_real_mailbox(app, client, alice, target):
    response = post_alias(client, alice, address="shop@alias.example", target=target)

    errors = assert_validation_error(response, "#/target")
    assert errors["#/target"]
    assert count_aliases(app) == 0


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({}, ["#/target"]),
        ({"target": 5}, ["#/target"]),
        ({"target": "me@example.com", "description": "d" * 201}, ["#/description"]),
        ({"target": "me@example.com", "description": None}, ["#/description"]),
        ({"target": "me@example.com", "enabled": "yes"}, ["#/enabled"]),
        ({"target": "me@example.com", "enabled": 1}, ["#/enabled"]),
        ({"target": "me@example.com", "address": 7}, ["#/address"]),
        (
            {"address": 7, "target": "bad", "description": "d" * 201},
            ["#/address", "#/description", "#/target"],
        ),
        pytest.param(
            {"address": "x@other.example", "target": "bad"},
            ["#/address", "#/target"],
            id="domain-and-schema",
        ),
        pytest.param(
            {"target": "me@alias.example", "description": "d" * 201},
            ["#/description", "#/target"],
            id="alias-target-and-schema",
        ),
        pytest.param(
            {"address": "x@other.example", "target": "me@alias.example"},
            ["#/address", "#/target"],
            id="both-domain-rules",
        ),
    ],
)
def test_invalid_bodies_are_422s_naming_every_bad_field(app, client, alice, body, pointers):
    response = client.post("/v1/aliases", json=body, headers=alice.auth)

    assert_validation_error(response, *pointers)
    assert count_aliases(app) == 0


@pytest.mark.parametrize(("length", "status"), [(0, 201), (200, 201), (201, 422)])
def test_the_description_is_at_most_200_characters(app, client, alice, length, status):
    response = post_alias(client, alice, description="d" * length)

    if status == 201:
        assert assert_alias(assert_success(response, 201))["description"] == "d" * length
    else:
        assert_validation_error(response, "#/description")
    assert count_aliases(app) == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("given", "stored"), [({}, True), ({"enabled": True}, True), ({"enabled": False}, False)]
)
def test_enabled_defaults_to_true(client, alice, given, stored):
    alias = new_alias(client, alice, **given)

    assert alias["enabled"] is stored
    assert alias["description"] == ""
    assert assert_success(get_alias(client, alice, alias["id"]))["enabled"] is stored


@pytest.mark.parametrize(
    "field",
    [
        ("id", 999),
        ("owner_id", 1),
        ("created_at", "2000-01-01T00:00:00Z"),
        ("updated_at", "2000-01-01T00:00:00Z"),
    ],
    ids=lambda field: field[0],
)
def test_mass_assignment_on_create_is_refused(app, client, alice, bob, field):
    name, value = field
    body = {"address": "shop@alias.example", "target": "me@example.com", name: value}

    response = client.post("/v1/aliases", json=body, headers=bob.auth)

    errors = assert_validation_error(response, f"#/{name}")
    assert errors[f"#/{name}"] == "is not allowed"
    assert count_aliases(app) == 0


def test_anything_but_a_json_object_is_a_400(app, client, alice):
    response = client.post("/v1/aliases", json=["me@example.com"], headers=alice.auth)

    assert_problem(response, 400, None)
    assert count_aliases(app) == 0


# -- the quota --------------------------------------------------------------------------------


def test_the_quota_is_a_422_of_its_own_type(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", ALIAS_QUOTA=3)
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")
    bob = sign_up(client, "bob@example.com")
    first = [new_alias(client, alice) for _ in range(3)]

    response = post_alias(client, alice, address="fourth@alias.example")

    body = assert_problem(response, 422, None)
    assert body["type"].endswith("/alias-quota-exceeded")
    assert body["type"] == TYPE_BASE + "alias-quota-exceeded"
    assert "3" in body["detail"]
    assert count_aliases(app, alice.id) == 3
    # The quota is per user; and deleting one makes room again.
    assert new_alias(client, bob)["id"] not in {a["id"] for a in first}
    assert client.delete(f"/v1/aliases/{first[0]['id']}", headers=alice.auth).status_code == 204
    assert new_alias(client, alice, address="fourth@alias.example")
    assert count_aliases(app, alice.id) == 3


def test_concurrent_creations_never_exceed_the_quota(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", ALIAS_QUOTA=3)
    setup = app.test_client()
    alice = sign_up(setup, "alice@example.com")
    new_alias(setup, alice)
    workers = 8
    barrier = threading.Barrier(workers)
    statuses = []

    def create(n):
        client = app.test_client()
        barrier.wait(timeout=10)
        response = post_alias(client, alice, address=f"race-{n}@alias.example")
        statuses.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == workers
    counts = Counter(status for status, _ in statuses)
    assert counts == {201: 2, 422: workers - 2}, statuses
    assert all(
        body["type"] == TYPE_BASE + "alias-quota-exceeded"
        for status, body in statuses
        if status == 422
    )
    assert count_aliases(app, alice.id) == 3


# -- listing ----------------------------------------------------------------------------------


def test_an_empty_list_has_only_self(client, alice):
    body = list_page(client, alice)

    assert body["data"] == []
    assert body["meta"] == {"limit": 20, "has_more": False}
    assert query_of(body["links"]["self"]) == {"limit": "20"}


def test_the_list_is_newest_first_with_ties_broken_by_the_higher_id(app, client, alice):
    ids = [new_alias(client, alice, description=f"n{n}")["id"] for n in range(6)]
    # Force equal creation times so the order must come from the id.
    run_sql(app, update(Alias).where(Alias.id.in_(ids[:4])).values(created_at=BASE_TIME))
    run_sql(
        app,
        update(Alias)
        .where(Alias.id.in_(ids[4:]))
        .values(created_at=BASE_TIME - timedelta(microseconds=1)),
    )

    body = list_page(client, alice)

    assert [alias["id"] for alias in body["data"]] == [
        ids[3],
        ids[2],
        ids[1],
        ids[0],
        ids[5],
        ids[4],
    ]
    assert body["meta"] == {"limit": 20, "has_more": False}


def test_ties_are_ordered_by_id_across_page_boundaries(app, client, alice):
    ids = [new_alias(client, alice)["id"] for _ in range(7)]
    run_sql(app, update(Alias).values(created_at=BASE_TIME))

    pages = walk(client, alice, "/v1/aliases?limit=2")

    assert pages == [[ids[6], ids[5]], [ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]


def test_a_page_in_the_middle_has_meta_links_and_a_link_header(client, alice):
    for n in range(5):
        new_alias(client, alice, description=f"match {n}")

    response = client.get("/v1/aliases?limit=2&enabled=true&q=match", headers=alice.auth)

    assert_success(response)
    body = response.get_json()
    assert body["meta"]["limit"] == 2
    assert body["meta"]["has_more"] is True
    assert isinstance(body["meta"]["next_cursor"], str)
    assert set(body["links"]) == {"self", "next"}
    assert query_of(body["links"]["self"]) == {"limit": "2", "enabled": "true", "q": "match"}
    assert query_of(body["links"]["next"]) == {
        "limit": "2",
        "enabled": "true",
        "q": "match",
        "cursor": body["meta"]["next_cursor"],
    }
    assert link_header(response) == body["links"]
    assert response.headers["Link"].count("rel=") == 2


def test_the_last_page_has_no_next_even_when_it_is_exactly_full(client, alice):
    ids = [new_alias(client, alice)["id"] for _ in range(6)]

    first = list_page(client, alice, "/v1/aliases?limit=3")
    second = list_page(client, alice, first["links"]["next"])

    assert [a["id"] for a in first["data"]] == ids[:2:-1]
    assert [a["id"] for a in second["data"]] == ids[2::-1]
    assert second["meta"] == {"limit": 3, "has_more": False}
    assert set(second["links"]) == {"self"}
    assert query_of(second["links"]["self"])["cursor"] == first["meta"]["next_cursor"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "", "1e2", "true"])
def test_an_out_of_range_limit_is_a_400_naming_it(client, alice, limit):
    response = client.get(f"/v1/aliases?limit={limit}", headers=alice.auth)

    assert_parameter_error(response, "limit")


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(client, alice, limit):
    new_alias(client, alice)
    new_alias(client, alice)

    body = list_page(client, alice, f"/v1/aliases?limit={limit}")

    assert body["meta"]["limit"] == limit
    assert len(body["data"]) == min(limit, 2)
    assert body["meta"]["has_more"] is (limit == 1)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("enabled=yes", "enabled"),
        ("enabled=1", "enabled"),
        ("q=", "q"),
        ("q=" + "x" * 101, "q"),
        ("limit=5&limit=6", "limit"),
        ("cursor=", "cursor"),
        ("colour=red", "colour"),
    ],
)
def test_bad_list_parameters_are_400s_naming_them(client, alice, query, parameter):
    response = client.get(f"/v1/aliases?{query}", headers=alice.auth)

    assert_parameter_error(response, parameter)


@pytest.mark.parametrize(("enabled", "expected"), [("true", ["on1", "on2"]), ("false", ["off"])])
def test_the_enabled_filter(client, alice, enabled, expected):
    new_alias(client, alice, description="on1")
    new_alias(client, alice, description="off", enabled=False)
    new_alias(client, alice, description="on2")

    body = list_page(client, alice, f"/v1/aliases?enabled={enabled}")

    assert sorted(alias["description"] for alias in body["data"]) == expected
    assert all(alias["enabled"] is (enabled == "true") for alias in body["data"])


Q_ALIASES = [
    ("shop@alias.example", "groceries"),
    ("news@alias.example", "100% off"),
    ("mail@alias.example", "under_score"),
    ("back@alias.example", "back\\slash"),
    ("slash@alias.example", "either/or"),
    ("bank@alias.example", "My BANK"),
    ("plain@alias.example", "nothing special"),
]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("SHOP", ["shop@alias.example"]),
        ("bank", ["bank@alias.example"]),
        ("%", ["news@alias.example"]),
        ("100%", ["news@alias.example"]),
        ("_", ["mail@alias.example"]),
        ("\\", ["back@alias.example"]),
        ("/", ["slash@alias.example"]),
        ("%%", []),
        ("s_o", []),
        ("' OR 1=1 --", []),
        ("alias.example", [address for address, _ in Q_ALIASES]),
        ("ALIAS.EXAMPLE", [address for address, _ in Q_ALIASES]),
    ],
)
def test_q_matches_address_or_description_as_plain_text(client, alice, q, expected):
    for address, description in Q_ALIASES:
        new_alias(client, alice, address=address, description=description)

    response = client.get("/v1/aliases", query_string={"q": q}, headers=alice.auth)

    assert_success(response)
    body = response.get_json()
    assert sorted(alias["address"] for alias in body["data"]) == sorted(expected)
    assert query_of(body["links"]["self"])["q"] == q


@pytest.mark.parametrize(
    "q",
    [
        "café",
        pytest.param(
            "CAFÉ",
        ),
    ],
)
def test_q_is_case_insensitive_beyond_ascii(client, alice, q):
    new_alias(client, alice, description="Café")
    new_alias(client, alice, description="cafe")

    body = list_page(client, alice, "/v1/aliases?q=" + q)

    assert [alias["description"] for alias in body["data"]] == ["Café"]


def test_filters_combine_and_page_together(client, alice):
    for n in range(5):
        new_alias(client, alice, description=f"team {n}", enabled=n % 2 == 0)
    new_alias(client, alice, description="other")

    pages = walk(client, alice, "/v1/aliases?limit=1&enabled=true&q=TEAM")

    descriptions = []
    for page in pages:
        assert len(page) == 1
        descriptions.append(assert_success(get_alias(client, alice, page[0]))["description"])
    assert descriptions == ["team 4", "team 2", "team 0"]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda c: "garbage", id="garbage"),
        pytest.param(lambda c: c[:-3], id="truncated"),
        pytest.param(lambda c: flip(c, len(c) - 5), id="tampered-signature"),
        pytest.param(lambda c: flip(c, 0), id="tampered-payload"),
        pytest.param(lambda c: c + "x", id="extended"),
        pytest.param(lambda c: c.split(".")[0], id="unsigned"),
        pytest.param(lambda c: "W1siMjAyNCJdLCAxXQ.AAAA", id="forged"),
        pytest.param(lambda c: "x" * 1001, id="too-long"),
    ],
)
def test_a_bad_cursor_is_a_400_naming_cursor(client, alice, mangle):
    for _ in range(3):
        new_alias(client, alice)
    cursor = list_page(client, alice, "/v1/aliases?limit=1")["meta"]["next_cursor"]

    response = client.get(
        "/v1/aliases", query_string={"limit": 1, "cursor": mangle(cursor)}, headers=alice.auth
    )

    assert_parameter_error(response, "cursor")


def test_another_users_cursor_is_a_400(client, alice, bob):
    for _ in range(3):
        new_alias(client, alice)
        new_alias(client, bob)
    cursor = list_page(client, alice, "/v1/aliases?limit=1")["meta"]["next_cursor"]

    response = client.get(f"/v1/aliases?limit=1&cursor={cursor}", headers=bob.auth)

    body = assert_parameter_error(response, "cursor")
    assert "alias" not in json.dumps(body["errors"])


@pytest.mark.parametrize(
    ("issued_with", "reused_with"),
    [
        ("", "&enabled=true"),
        ("&enabled=true", "&enabled=false"),
        ("&enabled=true", ""),
        ("&q=a", "&q=b"),
        ("&q=a", ""),
        ("", "&q=a"),
        pytest.param(
            "",
            "&q=None",
            id="no-q-then-q=None",
        ),
    ],
)
def test_a_cursor_reused_with_other_filters_is_a_400(client, alice, issued_with, reused_with):
    for _ in range(3):
        new_alias(client, alice, description="a b")
    cursor = list_page(client, alice, f"/v1/aliases?limit=1{issued_with}")["meta"]["next_cursor"]

    response = client.get(f"/v1/aliases?limit=1&cursor={cursor}{reused_with}", headers=alice.auth)

    assert_parameter_error(response, "cursor")


def test_a_cursor_may_be_used_with_another_limit(client, alice):
    ids = [new_alias(client, alice)["id"] for _ in range(5)]
    cursor = list_page(client, alice, "/v1/aliases?limit=1")["meta"]["next_cursor"]

    body = list_page(client, alice, f"/v1/aliases?limit=10&cursor={cursor}")

    assert [alias["id"] for alias in body["data"]] == ids[3::-1]


def test_a_cursor_outlives_the_deletion_of_the_row_it_points_at(client, alice):
    ids = [new_alias(client, alice)["id"] for _ in range(5)]
    first = list_page(client, alice, "/v1/aliases?limit=2")
    assert client.delete(f"/v1/aliases/{ids[3]}", headers=alice.auth).status_code == 204

    second = list_page(client, alice, first["links"]["next"])

    assert [alias["id"] for alias in first["data"]] == [ids[4], ids[3]]
    assert [alias["id"] for alias in second["data"]] == [ids[2], ids[1]]


def test_alias_routes_send_rate_limit_headers(client, alice):
    alias = new_alias(client, alice)

    responses = [
        client.get("/v1/aliases", headers=alice.auth),
        get_alias(client, alice, alias["id"]),
        get_alias(client, alice, alias["id"] + 1),
        client.get("/v1/aliases?limit=0", headers=alice.auth),
    ]

    for response in responses:
        assert response.headers["RateLimit-Policy"].startswith('"default";q=')
        assert int(response.headers["X-RateLimit-Remaining"]) < int(
            response.headers["X-RateLimit-Limit"]
        )


def test_walking_1050_aliases_yields_every_id_once_in_order(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", ALIAS_QUOTA=5000)
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")
    bob = sign_up(client, "bob@example.com")
    # 150 distinct creation times for 1,050 rows: seven-way ties, out of id order.
    moments = [
        BASE_TIME + timedelta(seconds=(n * 37) % 150 // 2, microseconds=(n * 37) % 2 * 250_001)
        for n in range(1050)
    ]
    insert_aliases(app, alice.id, moments)
    insert_aliases(app, bob.id, moments[:40], prefix="bob")
    expected = newest_first(sort_keys(app, alice.id))

    pages = walk(client, alice, "/v1/aliases?limit=37")

    seen = [alias_id for page in pages for alias_id in page]
    assert len(seen) == 1050
    assert seen == expected
    assert [len(page) for page in pages] == [37] * 28 + [14]


def test_walking_while_aliases_are_added_yields_each_old_one_once(make_app):
    app = make_app(RATELIMIT_AUTH="1000/minute", ALIAS_QUOTA=5000)
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")
    moments = [BASE_TIME + timedelta(seconds=n % 300 // 3) for n in range(1050)]
    old_ids = set(insert_aliases(app, alice.id, moments))
    keys = sort_keys(app, alice.id)
    pages = []

    url = "/v1/aliases?limit=37"
    while url:
        body = list_page(client, alice, url)
        pages.append([alias["id"] for alias in body["data"]])
        url = body["links"].get("next")
        if url:
            last_seen = keys[pages[-1][-1]][0]
            # Newer than all, tied with the last row seen, in the unseen middle, older than all.
            added = [datetime(2030, 1, 1), last_seen, last_seen - timedelta(seconds=7)]
            added.append(BASE_TIME - timedelta(days=1))
            insert_aliases(app, alice.id, added, prefix=f"new{len(pages)}")
            keys = sort_keys(app, alice.id)
        assert len(pages) < 200

    seen = [alias_id for page in pages for alias_id in page]
    assert len(seen) == len(set(seen)), "an alias was returned twice"
    assert {i for i in seen if i in old_ids} == old_ids
    assert [keys[i] for i in seen] == sorted((keys[i] for i in seen), reverse=True)
    # Rows added ahead of the cursor (older than the last one seen) are reached too.
    assert len(seen) > len(old_ids)
    assert count_aliases(app, alice.id) == 1050 + 4 * (len(pages) - 1)


# -- one alias, conditional requests ------------------------------------------------------------


def test_get_one_has_a_strong_etag(client, alice):
    alias = new_alias(client, alice, address="shop@alias.example")

    response = get_alias(client, alice, alias["id"])

    assert assert_success(response) == alias
    assert set(response.get_json()) == {"data"}
    etag = response.headers["ETag"]
    assert STRONG_ETAG.fullmatch(etag)
    assert not etag.startswith("W/")
    assert get_alias(client, alice, alias["id"]).headers["ETag"] == etag


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
        ('W/"other"', 200),
        ("garbage", 200),
    ],
)
def test_if_none_match(client, alice, if_none_match, status):
    alias = new_alias(client, alice)
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = get_alias(
        client, alice, alias["id"], **{"If-None-Match": if_none_match.format(etag=etag)}
    )

    assert_conditional(response, status, etag, alias)


def test_a_stale_etag_is_not_a_304_after_a_change(client, alice):
    alias = new_alias(client, alice)
    old = get_alias(client, alice, alias["id"]).headers["ETag"]
    assert_success(
        client.patch(f"/v1/aliases/{alias['id']}", json={"enabled": False}, headers=alice.auth)
    )

    response = get_alias(client, alice, alias["id"], **{"If-None-Match": old})

    assert assert_success(response)["enabled"] is False
    assert response.headers["ETag"] != old


# -- changing and deleting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"target": "new@example.org"},
        {"description": "for the bank"},
        {"description": ""},
        {"enabled": False},
        {"target": "new@example.org", "description": "x", "enabled": False},
    ],
)
def test_patch_changes_target_description_and_enabled(client, alice, changes):
    alias = new_alias(client, alice, address="shop@alias.example", description="old")
    before = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = client.patch(f"/v1/aliases/{alias['id']}", json=changes, headers=alice.auth)

    changed = assert_alias(assert_success(response))
    expected = {**alias, **changes}
    assert without(changed, "updated_at") == without(expected, "updated_at")
    assert changed["updated_at"] >= alias["updated_at"]
    assert STRONG_ETAG.fullmatch(response.headers["ETag"])
    assert response.headers["ETag"] != before
    fetched = get_alias(client, alice, alias["id"])
    assert assert_success(fetched) == changed
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_an_empty_patch_changes_nothing(client, alice):
    alias = new_alias(client, alice)
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = client.patch(f"/v1/aliases/{alias['id']}", json={}, headers=alice.auth)

    assert assert_success(response) == alias
    assert response.headers["ETag"] == etag


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"address": "other@alias.example"}, ["#/address"]),
        ({"owner_id": 2}, ["#/owner_id"]),
        ({"id": 12345}, ["#/id"]),
        ({"created_at": "2000-01-01T00:00:00Z"}, ["#/created_at"]),
        ({"description": "sneaky", "owner_id": 2}, ["#/owner_id"]),
    ],
)
def test_mass_assignment_on_patch_is_refused_and_changes_nothing(
    app, client, alice, bob, body, pointers
):
    alias = new_alias(client, alice, address="shop@alias.example", description="old")
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = client.patch(f"/v1/aliases/{alias['id']}", json=body, headers=alice.auth)

    errors = assert_validation_error(response, *pointers)
    assert set(errors.values()) == {"is not allowed"}
    after = get_alias(client, alice, alias["id"])
    assert assert_success(after) == alias
    assert after.headers["ETag"] == etag
    assert count_aliases(app, bob.id) == 0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"target": "me@alias.example"}, "#/target"),
        ({"target": "nope"}, "#/target"),
        ({"target": None}, "#/target"),
        ({"description": "d" * 201}, "#/description"),
        ({"enabled": "false"}, "#/enabled"),
        ({"enabled": None}, "#/enabled"),
    ],
)
def test_invalid_patches_are_422s_and_change_nothing(client, alice, body, pointer):
    alias = new_alias(client, alice, description="old")

    response = client.patch(f"/v1/aliases/{alias['id']}", json=body, headers=alice.auth)

    assert_validation_error(response, pointer)
    assert assert_success(get_alias(client, alice, alias["id"])) == alias


def test_patch_with_a_stale_if_match_is_a_412_and_changes_nothing(client, alice):
    alias = new_alias(client, alice, description="v1")
    stale = get_alias(client, alice, alias["id"]).headers["ETag"]
    current = client.patch(
        f"/v1/aliases/{alias['id']}", json={"description": "v2"}, headers=alice.auth
    )
    version_two = assert_success(current)

    response = client.patch(
        f"/v1/aliases/{alias['id']}",
        json={"description": "v3", "enabled": False, "target": "x@example.org"},
        headers={**alice.auth, "If-Match": stale},
    )

    body = assert_problem(response, 412, None)
    assert body["status"] == 412
    after = get_alias(client, alice, alias["id"])
    assert assert_success(after) == version_two
    assert after.headers["ETag"] == current.headers["ETag"]


@pytest.mark.parametrize("if_match", ["{etag}", '"other", {etag}', "*"])
def test_patch_with_a_matching_if_match_succeeds_with_the_new_etag(client, alice, if_match):
    alias = new_alias(client, alice, description="v1")
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = client.patch(
        f"/v1/aliases/{alias['id']}",
        json={"description": "v2"},
        headers={**alice.auth, "If-Match": if_match.format(etag=etag)},
    )

    assert assert_success(response)["description"] == "v2"
    assert response.headers["ETag"] != etag
    assert get_alias(client, alice, alias["id"]).headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize("if_match", ['"other"', "W/{etag}", "garbage"])
def test_if_match_uses_the_strong_comparison(client, alice, if_match):
    alias = new_alias(client, alice, description="v1")
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    response = client.patch(
        f"/v1/aliases/{alias['id']}",
        json={"description": "v2"},
        headers={**alice.auth, "If-Match": if_match.format(etag=etag)},
    )

    assert_problem(response, 412, None)
    assert assert_success(get_alias(client, alice, alias["id"]))["description"] == "v1"


def test_delete_with_a_stale_if_match_is_a_412_and_keeps_the_alias(app, client, alice):
    alias = new_alias(client, alice)
    stale = get_alias(client, alice, alias["id"]).headers["ETag"]
    assert_success(
        client.patch(f"/v1/aliases/{alias['id']}", json={"enabled": False}, headers=alice.auth)
    )

    response = client.delete(
        f"/v1/aliases/{alias['id']}", headers={**alice.auth, "If-Match": stale}
    )

    assert_problem(response, 412, None)
    assert assert_success(get_alias(client, alice, alias["id"]))["enabled"] is False
    assert count_aliases(app, alice.id) == 1


@pytest.mark.parametrize("if_match", [None, "{etag}", "*"])
def test_delete_is_204_and_then_404(app, client, alice, if_match):
    alias = new_alias(client, alice)
    keep = new_alias(client, alice)
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]
    headers = dict(alice.auth)
    if if_match:
        headers["If-Match"] = if_match.format(etag=etag)

    response = client.delete(f"/v1/aliases/{alias['id']}", headers=headers)

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert_standard_headers(response)
    assert_problem(get_alias(client, alice, alias["id"]), 404)
    assert_problem(client.delete(f"/v1/aliases/{alias['id']}", headers=alice.auth), 404)
    assert count_aliases(app, alice.id) == 1
    assert assert_success(get_alias(client, alice, keep["id"])) == keep


# -- ownership --------------------------------------------------------------------------------

#: Every verb on /v1/aliases/<id>, plain and with a precondition that would otherwise pass.
VERB_TABLE = [
    ("get", "GET", None, {}),
    ("get-if-none-match", "GET", None, {"If-None-Match": "*"}),
    ("patch", "PATCH", {"description": "mine now"}, {}),
    ("patch-if-match", "PATCH", {"enabled": False}, {"If-Match": "*"}),
    ("delete", "DELETE", None, {}),
    ("delete-if-match", "DELETE", None, {"If-Match": "*"}),
]
VERBS = [pytest.param(*row[1:], id=row[0]) for row in VERB_TABLE]
IMPOSSIBLE_IDS = [0, -1, "01", 2**63 - 1, 2**63, 2**64, 10**30, "abc"]
IMPOSSIBLE_ID_CASES = [
    pytest.param(
        alias_id,
        method,
        body,
        headers,
        id=f"{alias_id}-{name}",
    )
    for alias_id in IMPOSSIBLE_IDS
    for name, method, body, headers in VERB_TABLE
    if not headers
]


def call(client, caller, method, path, body, headers):
    """One request as this caller."""
    return client.open(path, method=method, json=body, headers={**caller.auth, **headers})


@pytest.mark.parametrize(("method", "body", "headers"), VERBS)
def test_another_users_alias_is_a_404_identical_to_a_missing_one(
    app, client, alice, bob, method, body, headers
):
    alias = new_alias(client, alice, address="private@alias.example")
    path = f"/v1/aliases/{alias['id']}"
    etag = get_alias(client, alice, alias["id"]).headers["ETag"]

    foreign = call(client, bob, method, path, body, headers)

    foreign_body = assert_problem(foreign, 404)
    assert "private" not in foreign.get_data(as_text=True)
    assert "ETag" not in foreign.headers
    # Alice's alias is untouched.
    untouched = get_alias(client, alice, alias["id"])
    assert assert_success(untouched) == alias
    assert untouched.headers["ETag"] == etag
    # Now make the id really missing: the same path must answer the same 404.
    assert client.delete(path, headers=alice.auth).status_code == 204
    missing = call(client, bob, method, path, body, headers)
    missing_body = assert_problem(missing, 404)
    assert without(foreign_body, "request_id") == without(missing_body, "request_id")
    assert set(foreign.headers.keys()) == set(missing.headers.keys())
    owner_missing = call(client, alice, method, path, body, headers)
    assert without(assert_problem(owner_missing, 404), "request_id") == without(
        missing_body, "request_id"
    )


@pytest.mark.parametrize(("alias_id", "method", "body", "headers"), IMPOSSIBLE_ID_CASES)
def test_ids_that_cannot_exist_are_404s_like_a_missing_one(
    client, alice, method, body, headers, alias_id
):
    missing = call(client, alice, method, "/v1/aliases/424242", body, headers)
    reference = without(assert_problem(missing, 404), "request_id", "instance")

    response = call(client, alice, method, f"/v1/aliases/{alias_id}", body, headers)

    assert without(assert_problem(response, 404), "request_id", "instance") == reference


def test_each_user_lists_only_their_own_aliases(client, alice, bob):
    mine = {new_alias(client, alice, description="shared word")["id"] for _ in range(3)}
    theirs = {new_alias(client, bob, description="shared word")["id"] for _ in range(2)}

    for caller, own in ((alice, mine), (bob, theirs)):
        for url in ("/v1/aliases", "/v1/aliases?q=shared", "/v1/aliases?enabled=true&limit=1"):
            ids = {i for page in walk(client, caller, url) for i in page}
            assert ids == own


ROUTES = [
    pytest.param("POST", "/v1/aliases", {"target": "me@example.com"}, id="create"),
    pytest.param("GET", "/v1/aliases", None, id="list"),
    pytest.param("GET", "/v1/aliases/{id}", None, id="get"),
    pytest.param("PATCH", "/v1/aliases/{id}", {"description": "x"}, id="patch"),
    pytest.param("PATCH", "/v1/aliases/{id}", {"owner_id": 1}, id="patch-invalid"),
    pytest.param("DELETE", "/v1/aliases/{id}", None, id="delete"),
    pytest.param("GET", "/v1/aliases/resolve?address={address}", None, id="resolve"),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "auth",
    [{}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": "Basic YTpi"}],
    ids=["anonymous", "unknown-token", "basic"],
)
def test_every_route_needs_a_bearer_token(app, client, alice, method, path, body, auth):
    alias = new_alias(client, alice)
    url = path.format(id=alias["id"], address=alias["address"])

    response = client.open(url, method=method, json=body, headers=auth)

    problem = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert problem["title"] == "Unauthorized"
    assert assert_success(get_alias(client, alice, alias["id"])) == alias
    assert count_aliases(app) == 1


# -- resolve ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address", ["shop@alias.example", "SHOP@ALIAS.EXAMPLE", "Shop@Alias.Example"]
)
def test_resolve_gives_an_enabled_aliass_target_to_an_admin(client, alice, admin, address):
    new_alias(client, alice, address="shop@alias.example", target="Alice@Example.com")

    response = client.get(
        "/v1/aliases/resolve", query_string={"address": address}, headers=admin.auth
    )

    assert assert_success(response) == {
        "address": "shop@alias.example",
        "target": "Alice@example.com",
    }
    assert set(response.get_json()) == {"data"}


def test_resolve_is_404_for_a_disabled_or_missing_alias(client, alice, admin):
    alias = new_alias(client, alice, address="off@alias.example", enabled=False)
    new_alias(client, alice, address="on@alias.example")

    disabled = client.get("/v1/aliases/resolve?address=off@alias.example", headers=admin.auth)
    missing = client.get("/v1/aliases/resolve?address=nope@alias.example", headers=admin.auth)
    assert_success(
        client.patch(f"/v1/aliases/{alias['id']}", json={"enabled": True}, headers=alice.auth)
    )
    enabled_again = client.get("/v1/aliases/resolve?address=off@alias.example", headers=admin.auth)

    assert without(assert_problem(disabled, 404), "request_id", "instance") == without(
        assert_problem(missing, 404), "request_id", "instance"
    )
    assert assert_success(enabled_again)["target"] == "me@example.com"


def test_resolve_is_for_admins_only(client, alice):
    new_alias(client, alice, address="shop@alias.example")

    response = client.get("/v1/aliases/resolve?address=shop@alias.example", headers=alice.auth)

    body = assert_problem(response, 403)
    assert body["title"] == "Forbidden"
    assert "me@example.com" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ["", "?address=", "?address=not-an-email", "?address=a&address=b"]
)
def test_resolve_needs_one_valid_address(client, admin, query):
    response = client.get(f"/v1/aliases/resolve{query}", headers=admin.auth)

    assert_parameter_error(response, "address")


# -- deleting the owner -------------------------------------------------------------------------


def test_deleting_a_user_deletes_their_aliases(app, client, alice, bob):
    for _ in range(3):
        new_alias(client, alice)
    kept = new_alias(client, bob)

    response = client.delete("/v1/users/me", headers=alice.auth)

    assert response.status_code == 204
    assert count_aliases(app, alice.id) == 0
    assert count_aliases(app) == 1
    assert assert_success(get_alias(client, bob, kept["id"])) == kept


def test_alias_domains_compare_in_lower_case_however_configured(make_app):
    """ALIAS_DOMAINS = ["Alias.Example"]: addresses match, are stored and generated lowercased."""
    client = make_app(ALIAS_DOMAINS=["Alias.Example"], RATELIMIT_AUTH="1000/minute").test_client()
    caller = sign_up(client, "ann@example.com")

    chosen = post_alias(client, caller, address="Shop@ALIAS.example")
    generated = post_alias(client, caller)
    chained = post_alias(client, caller, target="shop@alias.example")

    assert chosen.status_code == 201, chosen.get_json()
    assert chosen.get_json()["data"]["address"] == "shop@alias.example"
    assert generated.get_json()["data"]["address"].endswith("@alias.example")
    assert chained.status_code == 422  # an alias may not point at another alias
    assert chained.get_json()["errors"][0]["pointer"] == "#/target"
