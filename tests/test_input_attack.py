"""What the attacker found the input rules still let through after issue 12 (round two): a
lone surrogate in a url, unbounded echoed fields, charsets that are no text encodings, the
CLI's own charset guess, and the strictness the spec promises for numbers and text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.cli import main
from service.core.embed import Embedder
from service.core.ingest import Rejected, ingest_article
from service.store import Store, open_store
from tests.conftest import SpecCheckingClient
from tests.test_input import BODY, _spec_accepts, article, assert_problem, page

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
SURROGATE_URL = "http://a.example/\ud800"


def post_json(client: FlaskClient, path: str, body: Any) -> Any:
    """POST a body as JSON spells it, with \\uXXXX escapes (a lone surrogate included)."""
    return client.post(path, data=json.dumps(body), content_type="application/json")


# 1. A lone surrogate in a url is refused like one in any other field, on either store, and
# the store stays readable for everyone.


@pytest.mark.parametrize("field", ["url", "title", "language", "published_at", "id"])
def test_a_lone_surrogate_in_any_article_field_is_a_422(client: FlaskClient, field: str) -> None:
    value = SURROGATE_URL if field == "url" else "en\ud800"
    refused = post_json(client, "/v1/articles", article(**{"id": "poison", field: value}))
    assert field in assert_problem(refused, 422)["errors"]
    assert client.get("/v1/articles").status_code == 200
    assert client.get("/v1/articles/poison").status_code == 404
    assert client.get("/v1/articles/en%ED%A0%80").status_code in (400, 404)


def test_raw_surrogate_bytes_in_a_json_body_are_a_422(client: FlaskClient) -> None:
    raw = json.dumps(article(url="http://a.example/X")).replace("X", "\\ud800").encode()
    raw_bytes = raw.replace(b"\\ud800", b"\xed\xa0\x80")  # UTF-8 of U+D800, which is invalid
    for body in (raw, raw_bytes):
        answer = client.post("/v1/articles", data=body, content_type="application/json")
        assert answer.status_code in (400, 422), answer.get_data(as_text=True)
        assert answer.mimetype == "application/problem+json"
    assert client.get("/v1/articles").get_json()["articles"] == []


def test_the_store_path_rejects_a_record_it_cannot_encode(store: Store, embedder: Embedder) -> None:
    """Below the schema too: a record that cannot be encoded is a rejected record, not a 500
    (SQLite) or a stored record that breaks every read (Redis)."""
    fields = {"id": "poison", "title": "Poison", "text": BODY, "source": "x"}
    with pytest.raises(Rejected) as refused:
        ingest_article(store, embedder, {**fields, "url": SURROGATE_URL})
    assert "url" in refused.value.errors
    assert store.get_article("poison", with_text=False) is None


@sqlite_only
def test_ingest_rejects_a_poisoned_line_and_loads_the_rest(
    tmp_path: Path, store_url: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        article(id="poison", url=SURROGATE_URL),
        article(id="good", text=BODY + " The mayor cut the ribbon."),
    ]
    corpus = tmp_path / "poison.jsonl"
    corpus.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    url = store_url[0]
    assert main(["ingest", "--quiet", "--store", url, str(corpus)]) == 1
    assert "rejected" in capsys.readouterr().err
    stored = open_store(url)
    try:
        assert [a.id for a in stored.list_articles(10)] == ["good"]
    finally:
        stored.close()


# 2. Every field an answer echoes is bounded: a url at most 2048 characters, a language tag 35.


@sqlite_only
@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"url": "http://a.example/" + "u" * (2048 - 17)}, True),
        ({"url": "http://a.example/" + "u" * (2049 - 17)}, False),
        ({"url": "http://a.example/" + "u" * 1_000_000}, False),
        ({"language": "en-" + "-".join(["abcdefgh"] * 3) + "-ab"}, True),  # 35 characters
        ({"language": "en-" + "-".join(["abcdefgh"] * 200)}, False),
    ],
)
def test_echoed_fields_are_bounded_in_code_and_spec(
    client: FlaskClient, fields: dict[str, Any], accepted: bool
) -> None:
    body = article(**fields)
    answer = client.post("/v1/articles", json=body)
    assert (answer.status_code == 201) == accepted, answer.get_data(as_text=True)[:300]
    assert _spec_accepts("ArticleCreate", body) == accepted
    if not accepted:
        assert set(answer.get_json()["errors"]) == set(fields)
    if "url" in fields:  # the same bound on the query parameter
        other = article(text=BODY + " The mayor cut the ribbon.")
        query = client.post("/v1/articles", json=other, query_string=fields)
        assert (query.status_code == 201) == accepted, query.get_data(as_text=True)[:300]


# 4. A page's charset is a text encoding a browser knows (WHATWG labels), or the page is a 400.


@sqlite_only
@pytest.mark.parametrize(
    "charset", ["punycode", "unicode_escape", "raw_unicode_escape", "base64", "rot13", "idna"]
)
def test_a_charset_that_is_no_text_encoding_is_a_400(client: FlaskClient, charset: str) -> None:
    data = page(body="<p>\\ud800 \\u202e" + BODY[3:]).encode("ascii", "xmlcharrefreplace")
    refused = client.post(
        "/v1/articles?source=Village%20Post",
        data=data,
        content_type=f"text/html; charset={charset}",
    )
    assert "charset" in assert_problem(refused, 400)["detail"]
    assert client.get("/v1/articles").get_json()["articles"] == []


@sqlite_only
@pytest.mark.parametrize(
    ("charset", "encoding"),
    [
        ("windows-1252", "cp1252"),
        ("Latin1", "cp1252"),
        ("shift_jis", "cp932"),
        ("KOI8-R", "koi8_r"),
    ],
)
def test_a_page_in_a_browser_charset_is_read(
    client: FlaskClient, charset: str, encoding: str
) -> None:
    title = (
        "Café news" if encoding == "cp1252" else "Новости" if encoding == "koi8_r" else "ニュース"
    )
    data = page(f"<title>{title}</title>").encode(encoding)
    created = client.post(
        "/v1/articles?source=Village%20Post",
        data=data,
        content_type=f"text/html; charset={charset}",
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["title"] == title


# 5. `factcheck ingest` reads a saved page as the API reads one without charset: UTF-8, strictly.


@sqlite_only
@pytest.mark.parametrize(("encoding", "ingested"), [("latin-1", False), ("utf-8", True)])
def test_ingest_reads_a_page_as_utf8_like_the_api(
    tmp_path: Path,
    store_url: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    encoding: str,
    ingested: bool,
) -> None:
    (tmp_path / "cafe.html").write_bytes(page().encode(encoding))
    url = store_url[0]
    code = main(["ingest", "--quiet", "--store", url, str(tmp_path / "cafe.html")])
    stored = open_store(url)
    try:
        titles = [a.title for a in stored.list_articles(10)]
    finally:
        stored.close()
    if ingested:
        assert (code, titles) == (0, ["Café news"])
    else:
        assert (code, titles) == (1, [])
        assert "not valid utf-8" in capsys.readouterr().err


# Host: one trailing dot is the same name, two are none; a listed entry can always match.


@pytest.fixture
def make_app(store_url: tuple[str, str], embedder: Embedder) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        url, prefix = store_url
        app = create_app({"store": url, "redis_prefix": prefix, **settings})
        app.test_client_class = SpecCheckingClient
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["factcheck"].store.close()


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
    ],
)
def test_a_number_sent_as_a_string_is_refused(
    client: FlaskClient, path: str, body: dict[str, Any]
) -> None:
    schema = "BatchRequest" if "claims" in body else "CheckRequest"
    assert not _spec_accepts(schema, body)
    name = "min_score" if "min_score" in body else "top_k"
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
