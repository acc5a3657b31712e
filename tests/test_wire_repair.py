"""The repair of mis-decoded text (schemas/common.py) over a real socket against gunicorn, with
the bytes a client sends: JSON's \\u0092 escapes, the same characters as raw UTF-8, a chunked
body cut inside a character. What is stored is the repaired text, its statements' offsets
count in it, and a mis-decoded claim finds them; what the repair cannot take, and bodies that
are not UTF-8, get the documented answers. (The rules themselves, through Flask's test client:
tests/test_input.py and tests/test_repair_attack.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.live import LiveServer
from tests.rawhttp import Answer, chunked, exchange, request
from tests.spec import check_response
from tests.test_repair_attack import ELLIPSIS, TO_REFUSED

pytestmark = pytest.mark.slow  # every test here talks to the session's live gunicorn

HOST = "127.0.0.1"  # sample_live has no API key: it answers loopback Host headers only
JSON = "application/json; charset=utf-8"
C1_AS_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")  # a raw U+0080-U+009F in a UTF-8 body


def call(
    server: LiveServer, method: str, target: str, body: bytes = b"", chunk: int | None = None
) -> Answer:
    """One request over a socket (chunked in `chunk`-byte pieces when given); the answer is
    checked against openapi.yaml."""
    headers = {"Content-Type": JSON} if body else {}
    if chunk is not None:
        headers["Transfer-Encoding"] = "chunked"
        body = chunked(body, chunk)
    elif body:
        headers["Content-Length"] = str(len(body))
    answer = exchange(server.port, request(method, target, headers, body, host=HOST))
    content_type = answer.headers.get("content-type", "")
    if answer.body:
        path = urlsplit(target).path
        check_response(method, path, answer.status, content_type, answer.json())
    return answer


def spelled(body: dict[str, Any], spelling: str) -> bytes:
    """A JSON body as a client writes it: every non-ASCII character as a \\uXXXX escape, or as
    itself in UTF-8 (so U+0092 travels as the bytes C2 92)."""
    if spelling == "escapes":
        raw = json.dumps(body, ensure_ascii=True).encode("ascii")
        assert b"\\u00" in raw
    else:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        assert b"\\u" not in raw and C1_AS_UTF8.search(raw)
    return raw


def inside(body: bytes, sequence: bytes) -> int:
    """A chunk size whose first cut falls after the first byte of `sequence` (a multi-byte
    UTF-8 character): the first chunk alone does not decode."""
    size = body.index(sequence) + 1
    with pytest.raises(UnicodeDecodeError):
        body[:size].decode("utf-8")
    return size


def assert_problem(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.body[:300]
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == status
    return problem


@pytest.fixture
def created(sample_live: LiveServer) -> Iterator[list[str]]:
    """Ids of the articles a test adds to the shared server, deleted afterwards."""
    ids: list[str] = []
    yield ids
    for article_id in ids:
        assert call(sample_live, "DELETE", f"/v1/articles/{article_id}").status == 204


def read_back(server: LiveServer, answer: Answer) -> dict[str, Any]:
    """The article a 201 points at; every statement stands at its offsets in its text."""
    assert answer.status == 201, answer.body[:300]
    stored = call(server, "GET", urlsplit(answer.headers["location"]).path)
    assert stored.status == 200
    article: dict[str, Any] = stored.json()
    for statement in article["statement_list"]:
        assert article["text"][statement["start"] : statement["end"]] == statement["text"]
    return article


@dataclass(frozen=True)
class Text:
    sent: str
    meant: str


@dataclass(frozen=True)
class MisDecoded:
    place: str
    title: Text
    source: Text
    sentences: tuple[Text, Text]


def c1_controls(place: str) -> MisDecoded:
    """Windows-1252 punctuation decoded as Latin-1 (\\x81 is undefined there: removed)."""
    return MisDecoded(
        place,
        Text(f"{place}\x92s tide mill turns again", f"{place}\u2019s tide mill turns again"),
        Text(f"The {place} \x93Courier\x94", f"The {place} \u201cCourier\u201d"),
        (
            Text(
                f"The {place} tide mill\x92s oak wheel turned again on Tuesday \x96 after forty "
                "years.",
                f"The {place} tide mill\u2019s oak wheel turned again on Tuesday \u2013 after "
                "forty years.",
            ),
            Text(
                "Its miller says the \x93new\x94 stones grind flour\x81 for six bakeries \x85 "
                "and a school.",
                "Its miller says the \u201cnew\u201d stones grind flour for six bakeries \u2026 "
                "and a school.",
            ),
        ),
    )


def utf8_as_latin1(place: str) -> MisDecoded:
    """UTF-8 read as Latin-1: "caf\\xc3\\xa9" is repaired in a field that holds a C1 control
    (here, \\x80 of "\\xe2\\x80\\xa6"), and kept as sent in one without (the source)."""
    return MisDecoded(
        place,
        Text(
            f"Caf\xc3\xa9 on {place} quay reopens \xe2\x80\x94 at last",
            f"Caf\u00e9 on {place} quay reopens \u2014 at last",
        ),
        Text(f"{place} Caf\xc3\xa9 Post", f"{place} Caf\xc3\xa9 Post"),
        (
            Text(
                f"The caf\xc3\xa9 on {place} quay reopened on Friday \xe2\x80\xa6 after the storm.",
                f"The caf\u00e9 on {place} quay reopened on Friday \u2026 after the storm.",
            ),
            Text(
                "Its owner\xe2\x80\x99s \xe2\x80\x9cnew\xe2\x80\x9d oven bakes forty loaves an "
                "hour.",
                "Its owner\u2019s \u201cnew\u201d oven bakes forty loaves an hour.",
            ),
        ),
    )


# The first byte of UTF-8's U+0080 ("\xc2\x80"): a chunked body cut there is only text once
# the server has joined its chunks.
CUT = "\x80".encode()


@pytest.mark.parametrize(
    ("spelling", "framing", "article"),
    [
        ("escapes", "length", c1_controls("Wexmouth")),
        ("utf-8", "length", c1_controls("Carrowby")),
        ("escapes", "length", utf8_as_latin1("Dunmere")),
        ("utf-8", "length", utf8_as_latin1("Holloway")),
        ("utf-8", "chunked", utf8_as_latin1("Penhallow")),
    ],
    ids=["c1-escaped", "c1-utf8", "mojibake-escaped", "mojibake-utf8", "mojibake-chunked-cut"],
)
def test_mis_decoded_text_is_stored_repaired_at_its_offsets_and_found(
    sample_live: LiveServer, created: list[str], spelling: str, framing: str, article: MisDecoded
) -> None:
    article_id = f"wire-repair-{article.place.lower()}"
    first = article.sentences[0]
    raw = spelled(
        {
            "id": article_id,
            "title": article.title.sent,
            "source": article.source.sent,
            "text": " ".join(s.sent for s in article.sentences),
        },
        spelling,
    )
    chunk = inside(raw, CUT) if framing == "chunked" else None
    answer = call(sample_live, "POST", "/v1/articles", raw, chunk)
    if answer.status == 201:
        created.append(article_id)
    stored = read_back(sample_live, answer)
    assert (stored["id"], stored["title"], stored["source"]) == (
        article_id,
        article.title.meant,
        article.source.meant,
    )
    assert stored["text"] == " ".join(s.meant for s in article.sentences)
    assert [s["text"] for s in stored["statement_list"]] == [s.meant for s in article.sentences]

    claim = spelled({"claim": first.sent, "sources": [article.source.sent]}, spelling)
    checked = call(sample_live, "POST", "/v1/check", claim, inside(claim, CUT) if chunk else None)
    assert checked.status == 200, checked.body[:300]
    assert checked.json()["claim"] == first.meant
    best = checked.json()["evidence"][0]
    assert (best["article"]["id"], best["statement_id"], best["text"]) == (
        article_id,
        stored["statement_list"][0]["id"],
        first.meant,
    )
    assert stored["text"][best["start"] : best["end"]] == first.meant
    by_query = call(sample_live, "GET", f"/v1/check?claim={quote(first.sent)}")
    assert by_query.status == 200
    assert by_query.json()["claim"] == first.meant


@pytest.mark.parametrize(("sent", "one_line", "claim"), TO_REFUSED)
def test_a_repair_the_field_would_refuse_is_read_as_windows_1252(
    sample_live: LiveServer, created: list[str], sent: str, one_line: str, claim: str
) -> None:
    """Not refused: the text as sent is what the spec takes (letters and C1 controls), so it
    is stored, read as Windows-1252 where ftfy's reading is what the field refuses (a bidi
    override, a line break, a space alone, a tag character, NUL); a claim may hold a line
    break, so its reading of "\\xe2\\x80\\xa8" is U+2028."""
    article_id = f"wire-refused-{TO_REFUSED.index((sent, one_line, claim))}"
    text = "The Saltcote lighthouse keeper logged nine ships. The lamp was lit at dusk."
    body = {"id": article_id, "title": sent, "source": sent, "text": text}
    answer = call(sample_live, "POST", "/v1/articles", spelled(body, "utf-8"))
    if answer.status == 201:
        created.append(article_id)
    stored = read_back(sample_live, answer)
    assert (stored["title"], stored["source"], stored["text"]) == (one_line, one_line, text)
    checked = call(sample_live, "POST", "/v1/check", spelled({"claim": sent}, "utf-8"))
    assert checked.status == 200, checked.body[:300]
    assert checked.json()["claim"] == claim


def test_lengths_count_the_text_as_sent_before_any_repair(sample_live: LiveServer) -> None:
    """Each ELLIPSIS is 3 characters sent and one repaired: a claim or an article text over
    its limit as sent is a 422 naming the field, though its repair would be within it."""
    over = "Yes" + ELLIPSIS * 666  # 2001 characters sent (FACTCHECK_MAX_CLAIM_CHARS: 2000)
    refused = call(sample_live, "POST", "/v1/check", spelled({"claim": over}, "utf-8"))
    assert assert_problem(refused, 422)["errors"] == {"claim": ["Longer than 2000 characters."]}
    within = "No" + ELLIPSIS * 666  # 2000 sent
    checked = call(sample_live, "POST", "/v1/check", spelled({"claim": within}, "utf-8"))
    assert checked.status == 200, checked.body[:300]
    assert checked.json()["claim"] == "No" + "\u2026" * 666

    line = f"The Wexmouth ferry sails at dawn {ELLIPSIS} "  # 35 sent, 33 repaired
    text = line * (100_000 // len(line) + 1)  # over FACTCHECK_MAX_ARTICLE_CHARS as sent only
    body = {"id": "wire-too-long", "title": "Ferry", "source": "Wire", "text": text}
    refused = call(sample_live, "POST", "/v1/articles", spelled(body, "utf-8"))
    problem = assert_problem(refused, 422)
    assert problem["errors"] == {"text": ["Longer than 100000 characters."]}
    assert call(sample_live, "GET", "/v1/articles/wire-too-long").status == 404


@pytest.mark.parametrize("value", ["\x85", " \x81\x9b "])
def test_a_claim_of_c1_controls_alone_is_blank(sample_live: LiveServer, value: str) -> None:
    for spelling in ("escapes", "utf-8"):
        answer = call(sample_live, "POST", "/v1/check", spelled({"claim": value}, spelling))
        assert list(assert_problem(answer, 422)["errors"]) == ["claim"]


NOT_JSON = "The request body is not valid JSON (UTF-8)."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cp1252", b"The Wexmouth tide mill\x92s wheel"),  # a lone continuation byte
        ("latin-1", b"caf\xe9 on the quay"),
        ("truncated", b"cut \xe2\x80"),  # a character cut short
        ("overlong", b"overlong \xc0\xaf slash"),  # "/" in two bytes
        ("beyond-unicode", b"beyond \xf4\x90\x80\x80 U+10FFFF"),
    ],
)
@pytest.mark.parametrize("target", ["/v1/articles", "/v1/check"])
def test_a_body_that_is_not_utf8_is_a_400(
    sample_live: LiveServer, target: str, name: str, value: bytes
) -> None:
    article_id = f"wire-not-utf8-{name}"
    fields = b'"claim": "%s"' % value
    if target == "/v1/articles":
        fields = b'"id": "%s", "title": "Mill", "source": "Wire", "text": "%s."' % (
            article_id.encode(),
            value,
        )
    answer = call(sample_live, "POST", target, b"{" + fields + b"}")
    assert assert_problem(answer, 400)["detail"] == NOT_JSON
    assert call(sample_live, "GET", f"/v1/articles/{article_id}").status == 404


def test_raw_surrogate_bytes_are_not_utf8(sample_live: LiveServer) -> None:
    """UTF-8 cannot encode U+D800: its three bytes are no UTF-8 (JSON can spell a lone
    surrogate as \\ud800, which every text field refuses with a 422: tests/test_input.py)."""
    answer = call(sample_live, "POST", "/v1/check", b'{"claim": "ferry \xed\xa0\x80"}')
    assert assert_problem(answer, 400)["detail"] == NOT_JSON


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_a_body_in_utf16_utf32_or_with_a_bom_is_a_400(
    sample_live: LiveServer, encoding: str
) -> None:
    answer = call(sample_live, "POST", "/v1/check", '{"claim": "The ferry sails"}'.encode(encoding))
    assert assert_problem(answer, 400)["detail"] == NOT_JSON
