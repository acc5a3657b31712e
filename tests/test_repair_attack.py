"""What the attacker found the C1 repair (schemas/common.py) let through: ftfy reads
mis-decoded text as the characters it stood for, and some of those are what the field
refuses (a bidi override, a line break, a space alone, a tag character, NUL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_input import _spec_accepts, article, assert_problem, stored_article

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

# UTF-8 of a refused character read as Latin-1 holds C1 controls and letters only, so the
# spec's patterns take it (and so must the code); read as UTF-8 it is the refused character
# again. Such text is read as Windows-1252 instead (each C1 its punctuation), which holds none.
# (sent, a one-line field's reading, a claim's reading: a claim may hold a line break)
TO_REFUSED = [
    ("abc \xe2\x80\xaegnp.exe", "abc \xe2\u20ac\xaegnp.exe", "abc \xe2\u20ac\xaegnp.exe"),
    ("one\xe2\x80\xa8two", "one\xe2\u20ac\xa8two", "one\u2028two"),
    ("\xe2\x80\x83", "\xe2\u20ac\u0192", "\xe2\u20ac\u0192"),  # U+2003: blank
    ("tag \xf3\xa0\x81\x81", "tag \xf3\xa0", "tag \xf3\xa0"),  # U+E0041, \x81 undefined
    ("nul \xc0\x80 byte", "nul \xc0\u20ac byte", "nul \xc0\u20ac byte"),  # Java's NUL
]


@sqlite_only
@pytest.mark.parametrize(("sent", "one_line", "claim"), TO_REFUSED)
def test_a_repair_never_makes_a_field_hold_what_it_refuses(
    client: FlaskClient, sent: str, one_line: str, claim: str
) -> None:
    body = article(title=sent, source=sent)
    assert _spec_accepts("ArticleCreate", body)
    created = client.post("/v1/articles", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    stored: Any = client.get(created.headers["Location"]).get_json()
    assert (stored["title"], stored["source"]) == (one_line, one_line)
    checks = [
        client.post("/v1/check", json={"claim": sent, "sources": [sent]}),
        client.get("/v1/check", query_string={"claim": sent}),
    ]
    for checked in checks:
        assert checked.status_code == 200, checked.get_data(as_text=True)
        assert checked.get_json()["claim"] == claim
    batch = client.post("/v1/check/batch", json={"claims": [sent]})
    assert batch.status_code == 200, batch.get_data(as_text=True)
    assert batch.get_json()["results"][0]["claim"] == claim


@sqlite_only
def test_an_article_text_repair_never_leaves_a_control(client: FlaskClient) -> None:
    text = "The oven bakes \xc0\x80 two hundred loaves an hour. The cafe opens in spring."
    stored = stored_article(client, article(text=text))
    assert stored["text"] == text.replace("\x80", "\u20ac")


# A claim's limits count it as sent, as an article's length does (service/core/ingest.py):
# the repair runs ftfy, which on a batch of C1-dense claims took a second of a worker's CPU
# only for the budget to refuse the request after it. Each "\xe2\x80\xa6" is 3 characters
# sent and one ("\u2026") repaired.
ELLIPSIS = "\xe2\x80\xa6"


@sqlite_only
def test_a_claims_limits_count_it_as_sent(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_claim_chars=20, max_batch_chars=30).test_client()
    over = "Yes" + ELLIPSIS * 6  # 21 sent, 9 repaired
    for answer in (
        client.post("/v1/check", json={"claim": over}),
        client.get("/v1/check", query_string={"claim": over}),
    ):
        assert assert_problem(answer, 422)["errors"] == {"claim": ["Longer than 20 characters."]}
    within = "No" + ELLIPSIS * 6  # 20 sent: two are 40, over the batch's 30
    batch = client.post("/v1/check/batch", json={"claims": [within, within]})
    assert "FACTCHECK_MAX_BATCH_CHARS" in assert_problem(batch, 422)["detail"]
    assert client.post("/v1/check", json={"claim": within}).status_code == 200
