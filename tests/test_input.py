"""What text the API takes, and that openapi.yaml says the same: the charset of a page, ids
anchored to their end, controls that disguise text, undecodable query strings, pages with no
title or outlet, and the spec/code disagreements schemathesis found (issue 12)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
import requests
from flask.testing import FlaskClient

from tests.spec import spec

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

BODY = (
    "<p>The village bakery on Mill Lane reopened on Saturday after a fire closed it for "
    "eight months, and the queue for its first loaves reached the church by seven.</p>"
    "<p>The owners said the new oven bakes two hundred loaves an hour, twice the old one, "
    "and that the cafe upstairs will open in the spring with twelve tables.</p>"
)


def page(head: str = "<title>Café news</title>", body: str = BODY) -> str:
    """A small news page (no <meta charset>: the Content-Type alone says how to read it)."""
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


def article(**fields: Any) -> dict[str, Any]:
    return {"title": "Bakery reopens", "source": "Village Post", "text": BODY, **fields}


def stored_article(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST an article (201), then read it back; every statement stands at its offsets in the
    text as stored."""
    created = client.post("/v1/articles", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    stored: dict[str, Any] = client.get(created.headers["Location"]).get_json()
    for statement in stored["statement_list"]:
        assert stored["text"][statement["start"] : statement["end"]] == statement["text"]
    return stored


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


# 7. A page's charset: the Content-Type's, else UTF-8; never a guess.

LATIN1_BYTE = page().encode("utf-8").replace("é".encode(), b"\xe9")  # one invalid UTF-8 byte


@sqlite_only
@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=utf-8"])
def test_a_page_with_an_invalid_utf8_byte_is_refused_with_or_without_charset(
    client: FlaskClient, content_type: str
) -> None:
    refused = client.post("/v1/articles", data=LATIN1_BYTE, content_type=content_type)
    assert "utf-8" in assert_problem(refused, 400)["detail"]
    assert client.get("/v1/articles").get_json()["articles"] == []


@sqlite_only
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/html", page().encode("utf-8")),
        ("text/html; charset=utf-8", page().encode("utf-8")),
        ("text/html; charset=iso-8859-1", LATIN1_BYTE),
    ],
)
def test_a_page_is_read_in_its_charset(client: FlaskClient, content_type: str, data: bytes) -> None:
    created = client.post(
        "/v1/articles?source=Village%20Post", data=data, content_type=content_type
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["title"] == "Café news"


def test_the_wire_gets_the_same_charset_answer(sample_live: Any) -> None:
    """Over gunicorn: with or without charset=utf-8, one bad byte is a 400 problem."""
    answers = [
        requests.post(
            f"{sample_live.url}/v1/articles",
            data=LATIN1_BYTE,
            headers={"Content-Type": content_type},
            timeout=60,
        )
        for content_type in ("text/html", "text/html; charset=utf-8")
    ]
    assert [(a.status_code, a.headers["Content-Type"]) for a in answers] == [
        (400, "application/problem+json")
    ] * 2


# 9. Ids and tags end where the pattern ends: "id\n" is not "id".


@sqlite_only
@pytest.mark.parametrize(
    ("where", "value"),
    [("id", "idnl\n"), ("language", "en\n"), ("cursor", "idnl\n")],
)
def test_a_trailing_newline_does_not_pass_an_anchored_pattern(
    client: FlaskClient, where: str, value: str
) -> None:
    if where == "cursor":
        refused = client.get("/v1/articles", query_string={"cursor": value})
    else:
        refused = client.post("/v1/articles", json=article(**{where: value}))
    assert where in assert_problem(refused, 422)["errors"]
    assert client.get("/v1/articles").get_json()["articles"] == []


# 16. A page that does not say its title or outlet: name the query parameter to add.


@sqlite_only
@pytest.mark.parametrize(
    ("head", "missing"),
    [("", {"title", "source"}), ("<title>Bakery reopens</title>", {"source"})],
)
def test_a_page_without_title_or_outlet_names_the_parameter_to_add(
    client: FlaskClient, head: str, missing: set[str]
) -> None:
    refused = assert_problem(
        client.post("/v1/articles", data=page(head), content_type="text/html"), 422
    )
    assert set(refused["errors"]) == missing
    assert "query parameter" in refused["detail"] and "body has invalid" not in refused["detail"]
    for name in missing:
        assert f"{name}=" in refused["errors"][name][0]
    query = "title=Bakery%20reopens&source=Village%20Post"
    created = client.post(f"/v1/articles?{query}", data=page(head), content_type="text/html")
    assert created.status_code == 201, created.get_data(as_text=True)
    assert (created.get_json()["title"], created.get_json()["source"]) == (
        "Bakery reopens",
        "Village Post",
    )


# 21. Controls that make a short text display as another are refused; text loses them.

DISGUISES = ["abc\u202egnp.exe", "a\u2066b\u2069", "del\x7f"]


@sqlite_only
@pytest.mark.parametrize("value", DISGUISES)
@pytest.mark.parametrize("field", ["title", "source", "claim", "claims", "sources", "query"])
def test_disguising_controls_are_refused_in_short_fields(
    client: FlaskClient, field: str, value: str
) -> None:
    if field in ("title", "source"):
        refused = client.post("/v1/articles", json=article(**{field: value}))
    elif field == "query":  # the same rule in a query string
        refused = client.get("/v1/check", query_string={"claim": value})
    elif field == "claims":
        refused = client.post("/v1/check/batch", json={"claims": ["a claim", value]})
    else:
        body = {"claim": value} if field == "claim" else {"claim": "x", "sources": [value]}
        refused = client.post("/v1/check", json=body)
    problem = assert_problem(refused, 422)
    assert "bidirectional" in str(problem["errors"])
    assert client.get("/v1/articles").get_json()["articles"] == []


@sqlite_only
def test_article_text_loses_disguising_controls_and_keeps_marks(client: FlaskClient) -> None:
    text = "Le pain\u200f est revenu.\u202e Two hundred\x81 loaves an hour\u2066 came out."
    stored = stored_article(client, article(text=text))
    assert stored["text"] == "Le pain\u200f est revenu. Two hundred loaves an hour came out."
    only_controls = client.post("/v1/articles", json=article(text="\u202e\x7f "))
    assert "text" in assert_problem(only_controls, 422)["errors"]


# 21b. C1 controls are Windows-1252 punctuation decoded as Latin-1: read as what they stand
# for, in every text field; the undefined ones (and so no C1 terminal escape) are not kept.

MIS_DECODED = [
    (
        "Droughts have not changed since we\x92ve burnt coal",
        "Droughts have not changed since we\u2019ve burnt coal",
    ),
    ("Experts \xe2\x80\x9csay\xe2\x80\x9d so", "Experts \u201csay\u201d so"),
    ("Over 97 percent \xe2\x80\xa6 agree", "Over 97 percent \u2026 agree"),
    ("red\x9b31m text", "red\u203a31m text"),
    ("an\x81 undefined code", "an undefined code"),
]


@sqlite_only
@pytest.mark.parametrize(("sent", "meant"), MIS_DECODED)
def test_mis_decoded_text_is_repaired_in_every_field(
    client: FlaskClient, sent: str, meant: str
) -> None:
    body = article(title=sent, source=sent, text=f"{sent}. A second sentence follows here.")
    stored = stored_article(client, body)
    assert (stored["title"], stored["source"]) == (meant, meant)
    assert stored["text"] == f"{meant}. A second sentence follows here."
    checked = client.post("/v1/check", json={"claim": sent, "sources": [sent]})
    assert checked.status_code == 200, checked.get_data(as_text=True)
    assert checked.get_json()["claim"] == meant
    assert checked.get_json()["evidence"][0]["text"] == f"{meant}."
    by_query = client.get("/v1/check", query_string={"claim": sent})
    assert by_query.status_code == 200
    assert by_query.get_json()["claim"] == meant


@sqlite_only
def test_clean_text_is_never_touched_by_the_repair(client: FlaskClient) -> None:
    # What a heuristic might "fix" but a writer meant: kept byte for byte without a C1 control.
    text = "Caf\xe9 \u201cna\xefve\u201d \ufb01ne \uff21 &amp; \xc3\xa9t\xc3\xa9 stays as sent."
    stored = stored_article(client, article(title=text, text=text))
    assert (stored["title"], stored["text"]) == (text, text)


@sqlite_only
@pytest.mark.parametrize("value", ["\x85", " \x81\x9b "])
def test_a_short_field_of_c1_controls_alone_is_blank(client: FlaskClient, value: str) -> None:
    assert "claim" in assert_problem(client.post("/v1/check", json={"claim": value}), 422)["errors"]


def test_the_spec_states_the_text_rules_the_code_applies() -> None:
    from schemas.common import ARTICLE_TEXT, ONE_LINE, SHORT_TEXT

    schemas = spec()["components"]["schemas"]
    create = schemas["ArticleCreate"]["properties"]
    assert create["title"]["pattern"] == create["source"]["pattern"] == ONE_LINE
    assert create["text"]["pattern"] == ARTICLE_TEXT
    assert schemas["CheckRequest"]["properties"]["claim"]["pattern"] == SHORT_TEXT
    assert schemas["BatchRequest"]["properties"]["claims"]["items"]["pattern"] == SHORT_TEXT
    assert schemas["CheckRequest"]["properties"]["sources"]["items"]["pattern"] == ONE_LINE


# 22. A query string that is not UTF-8 once percent-decoded is refused, not kept as "%FF".


@sqlite_only
@pytest.mark.parametrize(
    "url",
    [
        "/v1/check?claim=%FF%FEabc",
        "/v1/check?claim=ok&sources=%C3",
        "/v1/articles?cursor=%80",
    ],
)
def test_undecodable_query_strings_are_refused(client: FlaskClient, url: str) -> None:
    assert "UTF-8" in assert_problem(client.get(url), 400)["detail"]


def test_undecodable_query_strings_are_refused_on_the_wire(sample_live: Any) -> None:
    answers = [
        requests.get(f"{sample_live.url}/v1/check?claim=%FF%FEabc", timeout=60),
        requests.post(
            f"{sample_live.url}/v1/articles?source=%E9",
            data=page().encode(),
            headers={"Content-Type": "text/html"},
            timeout=60,
        ),
    ]
    assert [a.status_code for a in answers] == [400, 400]
    good = requests.get(f"{sample_live.url}/v1/check?claim=caf%C3%A9", timeout=60)
    assert good.status_code == 200 and good.json()["claim"] == "café"


# 25. What schemathesis found the spec allows, the code now takes, and the reverse.


def _spec_accepts(schema: str, value: dict[str, Any]) -> bool:
    """As schemathesis reads the spec: jsonschema-rs, formats included."""
    document = {"$ref": f"#/components/schemas/{schema}", "components": spec()["components"]}
    return bool(jsonschema_rs.validator_for(document, validate_formats=True).is_valid(value))


@sqlite_only
@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("CheckRequest", {"claim": "x", "sources": [""]}),
        ("CheckRequest", {"claim": "x", "claim_date": ""}),
        ("CheckRequest", {"claim": "x", "published_after": "not a date"}),
        ("CheckRequest", {"claim": "x", "published_after": "2024-03-11t09:30:00z"}),
        ("CheckRequest", {"claim": "x", "claim_date": "2016-12-31T23:59:60Z"}),
        ("CheckRequest", {"claim": "x", "published_before": "2024-03-11"}),
        ("CheckRequest", {"claim": "x", "top_k": 46.0}),  # JSON Schema's integer includes it
        ("BatchRequest", {"claims": ["x"], "published_before": ""}),
        ("ArticleCreate", article(published_at="")),
        ("ArticleCreate", article(id="ok-id")),
        ("ArticleCreate", article(language="en\n")),
        ("ArticleCreate", article(url="http://localhost/bakery")),
        ("ArticleCreate", article(url="mailto:desk@example.org")),
        ("ArticleCreate", article(url="HTTP://")),
    ],
)
def test_spec_and_code_agree_on_request_bodies(
    client: FlaskClient, schema: str, body: dict[str, Any]
) -> None:
    path = {"CheckRequest": "/v1/check", "BatchRequest": "/v1/check/batch"}
    answer = client.post(path.get(schema, "/v1/articles"), json=body)
    assert (answer.status_code < 400) == _spec_accepts(schema, body), answer.get_json()


@sqlite_only
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("cursor=" + "0" * 300, 422),  # beyond the id pattern
        ("cursor=" + "0" * 128, 200),  # an id-shaped cursor is a place in the id order
        ("limit=1&cursor=a", 200),
    ],
)
def test_any_cursor_the_spec_allows_is_a_page(client: FlaskClient, query: str, status: int) -> None:
    assert client.get(f"/v1/articles?{query}").status_code == status


@sqlite_only
def test_list_cursor_pages_through_every_article(client: FlaskClient) -> None:
    ids = [f"bake-{n}" for n in range(3)]
    for n, article_id in enumerate(ids):
        text = f"{BODY} Batch {n} sold out by noon."
        assert (
            client.post("/v1/articles", json=article(id=article_id, text=text)).status_code == 201
        )
    first = client.get("/v1/articles?limit=2").get_json()
    assert first["next_cursor"] == "bake-1"
    rest = client.get(f"/v1/articles?limit=2&cursor={first['next_cursor']}").get_json()
    assert [a["id"] for a in first["articles"] + rest["articles"]] == ids
    assert rest["next_cursor"] is None


@sqlite_only
def test_article_fields_in_the_query_override_a_json_body(client: FlaskClient) -> None:
    query = "id=from-query&source=Wire%20Copy&published_at=2024-05-02&title=Query%20title"
    created = client.post(f"/v1/articles?{query}", json=article(id="from-body"))
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert (body["id"], body["source"], body["published_at"], body["title"]) == (
        "from-query",
        "Wire Copy",
        "2024-05-02",
        "Query title",
    )
    bad = client.post("/v1/articles?published_at=", json=article())
    assert "query string" in assert_problem(bad, 422)["detail"]
