"""The attacker's low findings on input (issue 12, round two): Host names compared as names,
numbers as the spec spells them, an undecodable path, tag characters and line breaks in one-line
fields, and one problem type for every 422."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.test_input import BODY, _spec_accepts, article, assert_problem, page
from tests.test_input_attack import post_json

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

# Host: one trailing dot is the same name, two are none; a listed entry can always match.


@sqlite_only
@pytest.mark.parametrize(
    ("settings", "host", "status"),
    [
        ({}, "localhost.", 200),
        ({}, "localhost..", 421),  # keyless: not a loopback name
        ({"api_keys": "k-host"}, "localhost..", 400),  # keyed, any host: werkzeug refuses it
        ({"allowed_hosts": ".example.org"}, "example.org", 200),
        ({"allowed_hosts": ".example.org"}, "news.example.org:8443", 200),
        ({"allowed_hosts": ".example.org"}, "badexample.org", 421),
    ],
)
def test_host_names_are_compared_as_names(
    make_app: Callable[..., Flask], settings: dict[str, str], host: str, status: int
) -> None:
    answer = make_app(**settings).test_client().get("/healthz", headers={"Host": host})
    assert answer.status_code == status, answer.get_data(as_text=True)
    if status == 400:
        assert answer.get_json()["detail"] == "The request is malformed."


@sqlite_only
@pytest.mark.parametrize("entry", ["api.example:8443", "https://api.example", "a b", "x..y"])
def test_an_allowed_host_that_could_never_match_stops_the_start(
    make_app: Callable[..., Flask], entry: str
) -> None:
    with pytest.raises(ValueError, match="FACTCHECK_ALLOWED_HOSTS"):
        make_app(allowed_hosts=f"ok.example, {entry}")


# Numbers as the spec spells them: ASCII digits in a query string, a JSON number in a body; and
# a path that is not UTF-8 is a 400, as a query string is.


@sqlite_only
@pytest.mark.parametrize(
    "url",
    [
        "/v1/articles?limit=1_0",
        "/v1/articles?limit=%EF%BC%95",  # fullwidth 5
        "/v1/articles?limit=5%0A",
        "/v1/articles?limit=%205",
        "/v1/check?claim=x&top_k=1_0",
        "/v1/check?claim=x&top_k=%EF%BC%95",
        "/v1/check?claim=x&top_k=5%0A",
        "/v1/check?claim=x&min_score=0_5",
        "/v1/check?claim=x&min_score=%EF%BC%90.5",
        "/v1/check?claim=x&min_score=0.5%0A",
        "/v1/check?claim=x&min_probability=0_5",
        "/v1/check?claim=x&min_probability=0.5%0A",
    ],
)
def test_query_numbers_are_ascii_digits_only(client: FlaskClient, url: str) -> None:
    name = url.rsplit("&", 1)[-1].split("?")[-1].split("=")[0]
    assert name in assert_problem(client.get(url), 422)["errors"]


@sqlite_only
@pytest.mark.parametrize(
    "url",
    [
        "/v1/articles?limit=10",
        "/v1/check?claim=x&top_k=3&min_score=0.5",
        "/v1/check?claim=x&min_score=-1e-1",
        "/v1/check?claim=x&min_probability=0.25",
    ],
)
def test_query_numbers_in_plain_digits_are_taken(client: FlaskClient, url: str) -> None:
    assert client.get(url).status_code == 200


@sqlite_only
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/check", {"claim": "x", "min_score": "0.5"}),
        ("/v1/check/batch", {"claims": ["x"], "min_score": "0.5"}),
        ("/v1/check", {"claim": "x", "top_k": "5"}),
        ("/v1/check", {"claim": "x", "min_probability": "0.5"}),
    ],
)
def test_a_number_sent_as_a_string_is_refused(
    client: FlaskClient, path: str, body: dict[str, Any]
) -> None:
    schema = "BatchRequest" if "claims" in body else "CheckRequest"
    assert not _spec_accepts(schema, body)
    name = next(n for n in ("min_score", "min_probability", "top_k") if n in body)
    assert name in assert_problem(client.post(path, json=body), 422)["errors"]


@sqlite_only
@pytest.mark.parametrize("path", ["/v1/articles/%FF", "/v1/articles/caf%C3", "/%E9"])
def test_an_undecodable_path_is_a_400_like_a_query_string(client: FlaskClient, path: str) -> None:
    assert "UTF-8" in assert_problem(client.get(path), 400)["detail"]
    assert client.get("/v1/articles/caf%C3%A9").status_code == 404  # valid UTF-8: just absent


def test_an_undecodable_path_is_a_400_on_the_wire(sample_live: Any) -> None:
    answer = requests.get(f"{sample_live.url}/v1/articles/%FF%FE", timeout=60)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "UTF-8" in answer.json()["detail"]


# Text rules: tag characters hide text (refused in short fields, removed from article text);
# the bidi marks stay; titles, outlets and sources are one line, a claim may break.

TAGGED = "Bakery reopens\U000e0049\U000e0047\U000e004e\U000e004f\U000e0052\U000e0045"


def _send(client: FlaskClient, field: str, value: str) -> Any:
    if field in ("title", "source"):
        return post_json(client, "/v1/articles", article(**{field: value}))
    if field == "query title":
        return client.post("/v1/articles", json=article(), query_string={"title": value})
    if field == "claims":
        return post_json(client, "/v1/check/batch", {"claims": ["a claim", value]})
    body = {"claim": value} if field == "claim" else {"claim": "x", "sources": [value]}
    return post_json(client, "/v1/check", body)


def _spec_schema(field: str, value: str) -> tuple[str, dict[str, Any]]:
    if field in ("title", "source", "query title"):
        return "ArticleCreate", article(**{field.removeprefix("query "): value})
    if field == "claims":
        return "BatchRequest", {"claims": ["a claim", value]}
    body = {"claim": value} if field == "claim" else {"claim": "x", "sources": [value]}
    return "CheckRequest", body


@sqlite_only
@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        *[(f, TAGGED, False) for f in ("title", "source", "claim", "claims", "sources")],
        *[(f, "Title\nforged line", False) for f in ("title", "source", "sources")],
        ("query title", "T\n", False),
        ("title", "T\r", False),
        ("source", "Desk\u2028Other", False),
        ("title", "Bakery\treopens", True),  # a tab is no line break
        ("claim", "The bakery reopened\nafter a fire", True),  # a pasted claim may break
        ("claims", "The bakery reopened\r\nafter a fire", True),
        ("title", "\u0627\u0644\u062e\u0628\u0632 \u061c2024", True),  # ALM is a mark: kept
        ("claim", "\u05dc\u05d7\u05dd\u200f 2024", True),
    ],
)
def test_text_rules_in_code_and_spec(
    client: FlaskClient, field: str, value: str, accepted: bool
) -> None:
    answer = _send(client, field, value)
    assert (answer.status_code < 400) == accepted, answer.get_data(as_text=True)
    if value != TAGGED:  # the one rule the spec states in words only (see info.description)
        assert _spec_accepts(*_spec_schema(field, value)) == accepted
    if not accepted:
        assert set(assert_problem(answer, 422)["errors"]) == {field.removeprefix("query ")}


@sqlite_only
def test_article_text_loses_tag_characters(client: FlaskClient) -> None:
    created = post_json(client, "/v1/articles", article(text=BODY.replace("bakery", TAGGED, 1)))
    assert created.status_code == 201, created.get_data(as_text=True)
    stored = client.get(created.headers["Location"]).get_json()["text"]
    assert stored == BODY.replace("bakery", "Bakery reopens", 1)


@sqlite_only
def test_a_page_whose_title_wraps_gets_a_one_line_title(client: FlaskClient) -> None:
    wrapped = page(
        "<title>Café\n  news</title><meta property='og:site_name' content='Village\nPost'>"
    )
    created = client.post("/v1/articles", data=wrapped.encode(), content_type="text/html")
    assert created.status_code == 201, created.get_data(as_text=True)
    assert (created.get_json()["title"], created.get_json()["source"]) == (
        "Café news",
        "Village Post",
    )


# Problem types: every 422 is the validation type, with the fields in `errors`.


@sqlite_only
@pytest.mark.parametrize("case", ["claim over the configured limit", "key reused", "no article"])
def test_every_422_has_the_validation_type(make_app: Callable[..., Flask], case: str) -> None:
    client = make_app(max_claim_chars=20).test_client()
    if case == "claim over the configured limit":
        answer = client.post("/v1/check", json={"claim": "a claim of more than twenty chars"})
    elif case == "key reused":
        key = {"Idempotency-Key": "once"}
        assert client.post("/v1/articles", json=article(), headers=key).status_code == 201
        answer = client.post("/v1/articles", json=article(title="Other"), headers=key)
    else:
        answer = client.post("/v1/articles", data="<html></html>", content_type="text/html")
    problem = assert_problem(answer, 422)
    assert problem["type"] == "urn:factcheck:problem:validation"
    assert problem["errors"]
