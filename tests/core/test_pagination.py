"""PageResult: meta, links and the Link header, from one place, for any list."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import voluptuous as vol

from myapp.core import ApiResult, String, queryschema
from myapp.core.pagination import PAGE_QUERY, PageResult

ITEMS = [{"n": i} for i in range(95)]


@pytest.fixture
def client(app):
    @app.get("/things")
    @queryschema({**PAGE_QUERY, vol.Optional("q"): String(0, 20)})
    def things(query):
        page, per_page = query["page"], query["per_page"]
        start = (page - 1) * per_page
        return PageResult(ITEMS[start : start + per_page], page=page, per_page=per_page, total=95)

    return app.test_client()


def query_of(url):
    parts = urlsplit(url)
    assert parts.scheme == "http"
    assert parts.netloc == "localhost"
    assert parts.path == "/things"
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def parse_link_header(value):
    links = {}
    for part in value.split(", "):
        url, rel = part.split("; ")
        links[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return links


def test_middle_page_has_every_relation_and_keeps_other_parameters(client):
    response = client.get("/things?page=2&per_page=20&q=abc")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"data", "meta", "links"}
    assert body["data"] == ITEMS[20:40]
    assert body["meta"] == {"page": 2, "per_page": 20, "total": 95, "pages": 5}
    expected = {"self": "2", "first": "1", "prev": "1", "next": "3", "last": "5"}
    assert {rel: query_of(url)["page"] for rel, url in body["links"].items()} == expected
    assert all(query_of(url)["q"] == "abc" for url in body["links"].values())
    assert all(query_of(url)["per_page"] == "20" for url in body["links"].values())
    assert parse_link_header(response.headers["Link"]) == body["links"]


@pytest.mark.parametrize(
    ("url", "absent", "count"),
    [
        ("/things", {"prev"}, 20),
        ("/things?page=5", {"next"}, 15),
        ("/things?per_page=100", {"prev", "next"}, 95),
        ("/things?page=9", {"next"}, 0),
    ],
)
def test_relations_that_do_not_apply_are_absent(client, url, absent, count):
    body = client.get(url).get_json()
    assert len(body["data"]) == count
    assert absent.isdisjoint(body["links"])
    assert None not in body["links"].values()
    assert {"self", "first", "last"} <= set(body["links"])


def test_page_past_the_end_points_back_to_the_last(client):
    body = client.get("/things?page=9").get_json()
    assert query_of(body["links"]["prev"])["page"] == "5"
    assert query_of(body["links"]["last"])["page"] == "5"


def test_empty_list_has_zero_pages_and_a_first_page(app):
    with app.test_request_context("/things"):
        result = PageResult([], page=1, per_page=20, total=0)
    assert isinstance(result, ApiResult)
    assert result.value == []
    assert result.meta == {"page": 1, "per_page": 20, "total": 0, "pages": 0}
    assert set(result.links) == {"self", "first", "last"}
    assert result.envelope() == {"data": [], "meta": result.meta, "links": result.links}


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=2.5", "per_page"),
        ("page=99999999999999999999999", "page"),
    ],
)
def test_out_of_range_parameters_are_400s_naming_them(client, query, parameter):
    response = client.get(f"/things?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert [e["parameter"] for e in response.get_json()["errors"]] == [parameter]
