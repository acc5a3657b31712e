"""What the attacker found the input rules still let through after issue 12 (round two): a
lone surrogate in a url, unbounded echoed fields, charsets that are no text encodings, and the
CLI's own charset guess (the low findings: tests/test_input_strict.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.cli import main
from service.core.embed import Embedder
from service.core.ingest import Rejected, ingest_article
from service.core.segment import segment
from service.store import Store, open_store
from service.types import Article
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


@pytest.mark.parametrize("store_url", ["redis"], indirect=True)
def test_a_surrogate_stored_before_the_fix_does_not_break_reads(
    app: Flask, client: FlaskClient, embedder: Embedder
) -> None:
    """Redis kept such a record when the schema let it in: reads answer it, \\u-escaped."""
    statements = segment(BODY)
    poisoned = Article(
        id="poison",
        title="Poison",
        source="x",
        url=SURROGATE_URL,
        content_hash="old",
        statement_count=len(statements),
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        text=BODY,
    )
    vectors = embedder.encode([s.text for s in statements])
    app.extensions["factcheck"].store.put_article(poisoned, statements, vectors)
    app.extensions["factcheck"].index.sync()
    listed = client.get("/v1/articles")
    assert listed.status_code == 200
    assert b'"url":"http://a.example/\\ud800"' in listed.get_data()
    assert client.get("/v1/articles/poison").status_code == 200
    checked = client.post("/v1/check", json={"claim": "The village bakery reopened on Saturday"})
    assert checked.status_code == 200
    assert checked.get_json()["evidence"][0]["article"]["id"] == "poison"
