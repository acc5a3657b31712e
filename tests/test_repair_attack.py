"""What the attacker found the C1 repair (schemas/common.py) let through: ftfy reads
mis-decoded text as the characters it stood for, and some of those are what the field
refuses (a bidi override, a line break, a space alone, a tag character, NUL)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.test_input import _spec_accepts, article

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
    created = client.post("/v1/articles", json=article(text=text))
    assert created.status_code == 201, created.get_data(as_text=True)
    stored = client.get(created.headers["Location"]).get_json()
    assert stored["text"] == text.replace("\x80", "\u20ac")
    for statement in stored["statement_list"]:
        assert stored["text"][statement["start"] : statement["end"]] == statement["text"]
