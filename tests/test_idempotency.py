"""POST /v1/aliases with an Idempotency-Key: a retry never creates twice (issue 21).

Run on SQLite, and on PostgreSQL by the tox env "pg": the outcome commits with the
alias in one transaction on both, and two requests with one key never both run.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from myapp.core.idempotency import REPLAYED
from myapp.db import get_engine, utcnow
from myapp.idempotency import purge_expired
from myapp.models import Alias, IdempotencyRecord
from myapp.services import aliases as aliases_service
from tests.conftest import ON_POSTGRES
from tests.helpers import assert_problem, assert_standard_headers, assert_success, signed_up

PASSWORD = "orchid mantle 91"
TYPE_BASE = "https://myapp.dev/problems/"
BODY = {"target": "me@example.com", "description": "shop"}


@pytest.fixture
def app(make_app):
    return make_app(RATELIMIT_DEFAULT="1000/minute", RATELIMIT_AUTH="1000/minute")


def sign_up(client, email):
    """A new user's Authorization header."""
    return signed_up(client, email, PASSWORD)


@pytest.fixture
def ann(client):
    return sign_up(client, "ann@example.com")


def create(client, auth, key=None, body=BODY):
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/aliases", json=body, headers=headers)


def count(app, model=Alias):
    with Session(get_engine(app)) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_retry_replays_the_alias_and_creates_nothing(app, client, ann):
    first = create(client, ann, "order-17")
    again = create(client, ann, "order-17")

    alias = assert_success(first, 201)
    assert again.status_code == 201
    assert again.data == first.data
    for name in ("Location", "ETag", "Content-Type"):
        assert again.headers[name] == first.headers[name]
    assert again.headers[REPLAYED] == "true"
    assert assert_standard_headers(again) != assert_standard_headers(first)
    assert count(app) == count(app, IdempotencyRecord) == 1
    assert client.get(first.headers["Location"], headers=ann).get_json()["data"] == alias


def test_without_a_key_every_post_creates(app, client, ann):
    assert create(client, ann).status_code == create(client, ann).status_code == 201
    assert count(app) == 2
    assert count(app, IdempotencyRecord) == 0


def test_a_replay_spends_no_quota_but_counts_against_the_rate_limit(make_app):
    app = make_app(ALIAS_QUOTA=1, RATELIMIT_DEFAULT="6/minute")
    client = app.test_client()
    ann = sign_up(client, "ann@example.com")  # sign-up and sign-in have their own limits

    answers = [create(client, ann, "k") for _ in range(6)]
    over = create(client, ann, "k")

    assert [a.status_code for a in answers] == [201] * 6
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers]
    assert remaining == [5, 4, 3, 2, 1, 0]
    assert_problem(over, 429, TYPE_BASE + "rate-limited")
    assert count(app) == 1


def test_the_quota_refusal_is_not_kept_so_the_retry_runs_once_there_is_room(make_app):
    app = make_app(ALIAS_QUOTA=1, RATELIMIT_DEFAULT="1000/minute")
    client = app.test_client()
    ann = sign_up(client, "ann@example.com")
    existing = assert_success(create(client, ann), 201)

    refused = create(client, ann, "k")
    assert_problem(refused, 422, TYPE_BASE + "alias-quota-exceeded")
    assert count(app, IdempotencyRecord) == 0
    assert client.delete(f"/v1/aliases/{existing['id']}", headers=ann).status_code == 204
    retried = create(client, ann, "k")

    assert assert_success(retried, 201)["target"] == BODY["target"]
    assert REPLAYED not in retried.headers


def test_a_taken_address_is_not_kept_either(app, client, ann):
    bob = sign_up(client, "bob@example.com")
    body = {"address": "shop@alias.example", "target": "me@example.com"}
    bobs = assert_success(create(client, bob, body=body), 201)

    taken = create(client, ann, "k", body)
    assert_problem(taken, 409, TYPE_BASE + "address-taken")
    client.delete(f"/v1/aliases/{bobs['id']}", headers=bob)

    assert create(client, ann, "k", body).status_code == 201


def test_the_same_key_for_another_alias_is_a_422(app, client, ann):
    create(client, ann, "k")

    other = create(client, ann, "k", {"target": "other@example.com"})

    assert_problem(other, 422, TYPE_BASE + "idempotency-key-reused")
    assert count(app) == 1


def test_one_users_key_never_meets_anothers(app, client, ann):
    bob = sign_up(client, "bob@example.com")

    anns = assert_success(create(client, ann, "k"), 201)
    bobs = create(client, bob, "k")

    assert REPLAYED not in bobs.headers
    assert assert_success(bobs, 201)["id"] != anns["id"]
    assert count(app) == 2


def test_a_server_error_releases_the_key_and_leaves_nothing(app, client, ann, monkeypatch):
    real = aliases_service.create_alias

    def fails_after_writing(session, *args, **kwargs):
        real(session, *args, **kwargs)  # the alias is written (flushed) ...
        raise RuntimeError("the worker dies here")  # ... and never committed

    monkeypatch.setattr(aliases_service, "create_alias", fails_after_writing)
    assert_problem(create(client, ann, "k"), 500)
    assert count(app) == count(app, IdempotencyRecord) == 0
    monkeypatch.setattr(aliases_service, "create_alias", real)

    retried = create(client, ann, "k")

    assert retried.status_code == 201
    assert REPLAYED not in retried.headers
    assert count(app) == count(app, IdempotencyRecord) == 1


def test_a_failed_commit_keeps_neither_the_alias_nor_the_outcome(app, client, ann, monkeypatch):
    keyed_inserts = []

    def spot(_conn, _cursor, statement, *_args):
        if statement.startswith("INSERT INTO idempotency_keys"):
            keyed_inserts.append(statement)

    real_commit = Session.commit

    def commit_fails_after_the_outcome(session):
        if keyed_inserts:
            keyed_inserts.clear()
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        return real_commit(session)

    event.listen(get_engine(app), "before_cursor_execute", spot)
    monkeypatch.setattr(Session, "commit", commit_fails_after_the_outcome)
    failed = create(client, ann, "k")
    monkeypatch.undo()
    event.remove(get_engine(app), "before_cursor_execute", spot)

    assert_problem(failed, 503, TYPE_BASE + "service-unavailable")
    assert count(app) == count(app, IdempotencyRecord) == 0
    assert create(client, ann, "k").status_code == 201
    assert count(app) == 1


def test_an_expired_outcome_is_forgotten_and_the_key_runs_again(app, client, ann):
    first = assert_success(create(client, ann, "k"), 201)
    with Session(get_engine(app)) as session:
        session.execute(update(IdempotencyRecord).values(expires_at=utcnow()))
        session.commit()

    again = create(client, ann, "k", {"target": "other@example.com"})

    assert assert_success(again, 201)["id"] != first["id"]
    assert count(app) == 2
    assert count(app, IdempotencyRecord) == 1
    assert create(client, ann, "k", {"target": "other@example.com"}).headers[REPLAYED] == "true"


def test_outcomes_are_kept_for_the_configured_time(make_app):
    app = make_app(IDEMPOTENCY_TTL=120, RATELIMIT_DEFAULT="1000/minute")
    client = app.test_client()
    ann = sign_up(client, "ann@example.com")
    before = utcnow()
    create(client, ann, "k")

    with Session(get_engine(app)) as session:
        expires = session.scalar(select(IdempotencyRecord.expires_at))

    assert before + timedelta(seconds=119) <= expires <= utcnow() + timedelta(seconds=120)


def test_purging_deletes_expired_outcomes_in_batches_and_keeps_live_ones(app, client, ann):
    for n in range(7):
        create(client, ann, f"k{n}")
    with Session(get_engine(app)) as session:
        expired = IdempotencyRecord.key.in_([f"k{n}" for n in range(5)])
        session.execute(update(IdempotencyRecord).where(expired).values(expires_at=utcnow()))
        session.commit()
        assert purge_expired(session, utcnow(), batch=2) == 5
        kept = session.scalars(select(IdempotencyRecord.key).order_by(IdempotencyRecord.key))
        assert list(kept) == ["k5", "k6"]


def test_the_purge_command_says_how_many_it_deleted(app, client, ann):
    create(client, ann, "k")
    with Session(get_engine(app)) as session:
        session.execute(update(IdempotencyRecord).values(expires_at=utcnow()))
        session.commit()

    result = app.test_cli_runner().invoke(args=["purge-idempotency-keys"])

    assert result.exit_code == 0, result.output
    assert result.output == "deleted 1 expired idempotency key\n"
    assert count(app, IdempotencyRecord) == 0
    assert count(app) == 1


def hold_the_first_request(monkeypatch):
    """Make the next creation wait inside its transaction until released."""
    inside, release = threading.Event(), threading.Event()
    real = aliases_service.create_alias

    def slow(*args, **kwargs):
        alias = real(*args, **kwargs)
        if not inside.is_set():
            inside.set()
            release.wait(10)
        return alias

    monkeypatch.setattr(aliases_service, "create_alias", slow)
    return inside, release


def test_a_retry_while_the_first_runs_is_told_to_wait_or_waits(app, ann, monkeypatch):
    inside, release = hold_the_first_request(monkeypatch)
    answers = {}

    def first():
        answers["first"] = create(app.test_client(), ann, "k")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    if ON_POSTGRES:
        # The first holds the key's lock: the retry is told to come back.
        during = create(app.test_client(), ann, "k")
        body = assert_problem(during, 409, TYPE_BASE + "idempotency-key-in-flight")
        assert during.headers["Retry-After"] == "1"
        assert "still running" in body["detail"]
        release.set()
    else:
        # SQLite: the first holds the database's write lock; the retry queues behind it.
        threading.Timer(0.3, release.set).start()
        during = create(app.test_client(), ann, "k")
        assert during.status_code == 201
        assert during.headers[REPLAYED] == "true"
    thread.join(10)

    assert answers["first"].status_code == 201
    assert count(app) == 1
    assert create(app.test_client(), ann, "k").data == answers["first"].data


def test_ten_threads_with_one_key_create_one_alias(app, ann):
    barrier = threading.Barrier(10)
    answers = []

    def send():
        client = app.test_client()
        barrier.wait()
        answers.append(create(client, ann, "together"))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(answers) == 10
    created = [a for a in answers if a.status_code == 201]
    waits = [a for a in answers if a.status_code == 409]
    assert len(created) + len(waits) == 10
    assert len([a for a in created if REPLAYED not in a.headers]) == 1
    assert len({a.data for a in created}) == 1
    for answer in waits:
        assert_problem(answer, 409, TYPE_BASE + "idempotency-key-in-flight")
        assert int(answer.headers["Retry-After"]) >= 1
    assert count(app) == 1
