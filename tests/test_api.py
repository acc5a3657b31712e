"""The HTTP API on both store backends; every response is also checked against openapi.yaml."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

ARTICLES = [
    {
        "id": "volcano",
        "title": "Volcanic ash closes European airspace",
        "source": "Desk A",
        "url": "https://example.org/volcano",
        "published_at": "2010-04-16",
        "text": "Ash from an Icelandic volcano grounded flights across northern Europe.\n"
        "Airlines cancelled thousands of departures on Thursday. Officials said the ash cloud "
        "could damage jet engines.",
    },
    {
        "id": "telescope",
        "title": "New space telescope launches",
        "source": "Desk B",
        "published_at": "2021-12-25T12:20:00Z",
        "text": "The James Webb Space Telescope lifted off on an Ariane 5 rocket from French "
        "Guiana. Engineers expect the mirror to unfold over the following weeks.",
    },
    {
        "id": "wall",
        "title": "Berlin Wall opens",
        "source": "Desk A",
        "text": "Crowds crossed the Berlin Wall on the night of 9 November 1989 after border "
        "guards opened the checkpoints.",
    },
]


def post(client: FlaskClient, article: dict[str, Any]) -> Any:
    return client.post("/v1/articles", json=article)


@pytest.fixture
def loaded(client: FlaskClient) -> FlaskClient:
    for article in ARTICLES:
        assert post(client, article).status_code == 201
    return client


def test_create_returns_201_with_location_and_counts(client: FlaskClient) -> None:
    response = post(client, ARTICLES[0])
    assert response.status_code == 201
    assert response.headers["Location"] == "/v1/articles/volcano"
    body = response.get_json()
    assert body["status"] == "created"
    assert body["statements"] == 3
    assert body["published_at"] == "2010-04-16"


def test_same_content_without_id_is_idempotent(client: FlaskClient) -> None:
    article = {k: v for k, v in ARTICLES[1].items() if k != "id"}
    first = post(client, article)
    again = post(client, article)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.get_json()["status"] == "unchanged"
    listed = client.get("/v1/articles").get_json()["articles"]
    assert [a["id"] for a in listed] == [first.get_json()["id"]]


def test_same_id_new_content_replaces(loaded: FlaskClient) -> None:
    changed = {**ARTICLES[2], "text": "The wall fell. Germany reunified in October 1990."}
    response = post(loaded, changed)
    assert response.status_code == 200
    assert response.get_json()["status"] == "replaced"
    detail = loaded.get("/v1/articles/wall").get_json()
    assert detail["text"] == changed["text"]
    assert [s["text"] for s in detail["statement_list"]] == [
        "The wall fell.",
        "Germany reunified in October 1990.",
    ]
    evidence = loaded.get("/v1/check?claim=border+guards+opened+checkpoints").get_json()
    assert all("checkpoints" not in e["text"] for e in evidence["evidence"])


def test_get_article_has_text_and_exact_offsets(loaded: FlaskClient) -> None:
    detail = loaded.get("/v1/articles/volcano").get_json()
    assert detail["text"] == ARTICLES[0]["text"]
    assert len(detail["statement_list"]) == detail["statements"] == 3
    for statement in detail["statement_list"]:
        assert detail["text"][statement["start"] : statement["end"]] == statement["text"]
        assert statement["id"] == f"volcano:{statement['position']}"


def test_delete_removes_article_and_its_evidence(loaded: FlaskClient) -> None:
    assert loaded.delete("/v1/articles/telescope").status_code == 204
    assert loaded.get("/v1/articles/telescope").status_code == 404
    assert loaded.delete("/v1/articles/telescope").status_code == 404
    body = loaded.post("/v1/check", json={"claim": "Webb telescope launched on Ariane 5"}).json
    assert body["index"]["articles"] == 2
    assert all(e["article"]["id"] != "telescope" for e in body["evidence"])


def test_list_pages_with_stable_cursor(client: FlaskClient) -> None:
    ids = [f"doc-{i}" for i in range(7)]
    for i, article_id in enumerate(ids):
        post(client, {"id": article_id, "title": f"T{i}", "source": "S", "text": f"Fact {i}."})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/v1/articles?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [a["id"] for a in page["articles"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids)
    assert pages == 3


def test_check_post_finds_the_supporting_statement(loaded: FlaskClient) -> None:
    response = loaded.post(
        "/v1/check",
        json={
            "claim": "The Webb telescope was launched by an Ariane 5",
            "top_k": 3,
            "min_score": -1,
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["claim"] == "The Webb telescope was launched by an Ariane 5"
    assert len(body["evidence"]) == 3
    best = body["evidence"][0]
    assert best["article"] == {
        "id": "telescope",
        "title": "New space telescope launches",
        "source": "Desk B",
        "url": None,
        "published_at": "2021-12-25T12:20:00Z",
    }
    assert best["text"].startswith("The James Webb Space Telescope lifted off")
    assert ARTICLES[1]["text"][best["start"] : best["end"]] == best["text"]
    assert best["text"] in best["context"]
    scores = [e["score"] for e in body["evidence"]]
    assert scores == sorted(scores, reverse=True)
    assert body["index"] == {"articles": 3, "statements": 6, "version": 3}
    assert body["model"] and body["took_ms"] > 0


def test_check_get_matches_post(loaded: FlaskClient) -> None:
    query = {"claim": "ash cloud grounded flights", "top_k": 2, "min_score": 0.1}
    got = loaded.get("/v1/check", query_string=query)
    posted = loaded.post("/v1/check", json=query)
    assert got.status_code == posted.status_code == 200
    assert [e["statement_id"] for e in got.json["evidence"]] == [
        e["statement_id"] for e in posted.json["evidence"]
    ]
    assert got.json["evidence"][0]["article"]["id"] == "volcano"


def test_empty_index_answers_no_evidence(client: FlaskClient) -> None:
    body = client.get("/v1/check?claim=anything+at+all").get_json()
    assert body["evidence"] == []
    assert (body["reason"], body["best_score"]) == ("index_empty", None)
    assert body["index"] == {"articles": 0, "statements": 0, "version": 0}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "claim"),
        ({"claim": ""}, "claim"),
        ({"claim": "   "}, "claim"),
        ({"claim": "x" * 2001}, "claim"),
        ({"claim": "ok", "top_k": 0}, "top_k"),
        ({"claim": "ok", "top_k": 51}, "top_k"),
        ({"claim": "ok", "top_k": "five"}, "top_k"),
        ({"claim": 12}, "claim"),
        ({"claim": "ok", "colour": "red"}, "colour"),
        ({"claim": "ok", "top_k": 5.5}, "top_k"),
        ({"claim": "ok", "top_k": "5"}, "top_k"),
        ({"claim": "lone \ud800 surrogate"}, "claim"),
        ([1, 2], "_schema"),
    ],
)
def test_check_rejects_bad_input_naming_the_field(
    client: FlaskClient, payload: Any, field: str
) -> None:
    # Encoded here (ASCII escapes) so that a lone surrogate can travel as JSON allows.
    body = json.dumps(payload)
    response = client.post("/v1/check", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "t", "source": "s"}, "text"),
        ({"title": "t", "text": "x"}, "source"),
        ({"title": "", "source": "s", "text": "x"}, "title"),
        ({"title": "t", "source": "s", "text": "x", "id": "has space"}, "id"),
        ({"title": "t", "source": "s", "text": "x", "published_at": "yesterday"}, "published_at"),
        ({"title": "t", "source": "s", "text": "x", "url": "ftp://x"}, "url"),
        ({"title": "t", "source": "s", "text": "nul \u0000 byte"}, "text"),
        ({"title": "t", "source": "s", "text": "x", "extra": 1}, "extra"),
    ],
)
def test_create_rejects_bad_articles_and_stores_nothing(
    client: FlaskClient, payload: dict[str, Any], field: str
) -> None:
    response = post(client, payload)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert client.get("/v1/articles").get_json()["articles"] == []


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("get", "/no/such/route", {}, 404),
        ("get", "/v1/articles/missing", {}, 404),
        ("put", "/v1/check", {}, 405),
        ("post", "/v1/check", {"data": "claim=x", "content_type": "text/plain"}, 415),
        ("post", "/v1/check", {"data": "{not json", "content_type": "application/json"}, 400),
        (
            "post",
            "/v1/check",
            {"data": b'{"claim": "\xff\xfe"}', "content_type": "application/json"},
            400,
        ),
        (
            "post",
            "/v1/articles",
            {"data": b"{" + b" " * (3 * 1024 * 1024) + b"}", "content_type": "application/json"},
            413,
        ),
        ("post", "/v1/check", {"data": "[" * 100_000, "content_type": "application/json"}, 400),
        ("get", "/v1/articles?cursor=%%%", {}, 422),
        ("get", "/v1/articles?limit=1000", {}, 422),
    ],
)
def test_every_error_is_problem_json(
    client: FlaskClient, method: str, url: str, kwargs: dict[str, Any], status: int
) -> None:
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "detail"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True).lower()


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "checks": {"model": "loaded", "store": "ok"}}


def test_unreachable_store_is_503_not_a_crash(embedder: object) -> None:
    """A Redis nobody listens on: the app still starts, says it is not ready, and every data
    call answers 503 problem+json with Retry-After instead of hanging or a 500."""
    from service import create_app
    from tests.conftest import SpecCheckingClient
    from tests.live import free_port

    app = create_app({"store": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_s": 0.5})
    app.test_client_class = SpecCheckingClient
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert ready.get_json()["errors"] == {"store": ["unreachable"]}
    for response in (
        client.get("/v1/check?claim=anything"),
        client.post("/v1/articles", json={"title": "t", "source": "s", "text": "A fact."}),
        client.get("/v1/articles"),
    ):
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"].isdigit()


def test_unrelated_claim_gets_no_evidence_and_says_why(loaded: FlaskClient) -> None:
    body = loaded.get("/v1/check?claim=The+recipe+needs+two+eggs+and+flour").get_json()
    assert body["evidence"] == []
    assert body["reason"] == "no_statement_above_threshold"
    assert body["min_score"] == 0.3
    assert body["best_score"] is not None and body["best_score"] < 0.3
    assert body["best_probability"] <= body["evidence_probability"] < body["min_probability"]
    assert body["summary"].startswith("No passage in the index is likely evidence")
    # With the decision off and the cosine bar lowered per request, the claim gets its
    # (weak) best passages; the cosine bar lowered alone does not override the decision.
    query = "/v1/check?claim=The+recipe+needs+two+eggs+and+flour&min_score=-1"
    lowered = loaded.get(query + "&min_probability=0").get_json()
    assert len(lowered["evidence"]) == 5
    assert lowered["reason"] is None
    assert loaded.get(query).get_json()["evidence"] == []  # min_score alone: still decided


def test_evidence_explains_itself(loaded: FlaskClient) -> None:
    body = loaded.post("/v1/check", json={"claim": "Volcanic ash grounded flights"}).get_json()
    best = body["evidence"][0]
    assert best["article"]["id"] == "volcano"
    # Stems must agree: "Volcanic" (volcan) is not "volcano" (volcano) to Snowball.
    assert best["matched_terms"] == ["ash", "grounded", "flights"]
    assert best["scores"]["lexical"] > 0 and best["scores"]["dense"] >= 0.3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"sources": ["desk b"]}, {"telescope"}),
        ({"sources": ["Desk A", "Nobody"]}, {"volcano", "wall"}),
        ({"published_after": "2011-01-01"}, {"telescope"}),
        ({"published_before": "2010-04-16"}, {"volcano"}),
        (
            {"published_after": "2010-04-16", "published_before": "2021-12-25"},
            {"volcano", "telescope"},
        ),
    ],
)
def test_filters_restrict_the_articles(
    loaded: FlaskClient, query: dict[str, Any], expected: set[str]
) -> None:
    body = {"claim": "something happened", "top_k": 10, "min_score": -1, "min_probability": 0}
    body |= query
    found = loaded.post("/v1/check", json=body).get_json()
    assert {e["article"]["id"] for e in found["evidence"]} == expected


def test_filters_that_exclude_everything_say_so(loaded: FlaskClient) -> None:
    found = loaded.get("/v1/check?claim=ash&sources=Nobody").get_json()
    assert (found["evidence"], found["reason"]) == ([], "no_statement_matches_filters")


def test_sources_filter_repeats_in_the_query_string(loaded: FlaskClient) -> None:
    found = loaded.get(
        "/v1/check?claim=news&sources=Desk+B&sources=Desk+A&min_score=-1&min_probability=0&top_k=10"
    ).get_json()
    assert {e["article"]["id"] for e in found["evidence"]} == {"volcano", "telescope", "wall"}


@pytest.mark.parametrize(
    ("claim_date", "after"),
    [("2021-12-24", True), ("2021-12-25", False), ("2021-12-25T12:00:00Z", True)],
)
def test_evidence_published_after_the_claim_is_flagged(
    loaded: FlaskClient, claim_date: str, after: bool
) -> None:
    body = {"claim": "Webb telescope launched on Ariane 5", "claim_date": claim_date}
    best = loaded.post("/v1/check", json=body).get_json()["evidence"][0]
    assert best["article"]["id"] == "telescope"
    assert best["after_claim_date"] is after


def test_batch_answers_each_claim_like_a_single_check(loaded: FlaskClient) -> None:
    claims = ["Webb telescope launched on Ariane 5", "Berlin Wall opened in 1989", "Cake recipe"]
    batch = loaded.post("/v1/check/batch", json={"claims": claims, "top_k": 2})
    assert batch.status_code == 200
    results = batch.get_json()["results"]
    assert [r["claim"] for r in results] == claims
    for claim, result in zip(claims, results, strict=True):
        single = loaded.post("/v1/check", json={"claim": claim, "top_k": 2}).get_json()
        assert [e["statement_id"] for e in result["evidence"]] == [
            e["statement_id"] for e in single["evidence"]
        ]
        assert result["reason"] == single["reason"]
    assert results[2]["reason"] == "no_statement_above_threshold"


@pytest.mark.parametrize("size", [0, 101])
def test_batch_size_is_bounded(client: FlaskClient, size: int) -> None:
    response = client.post("/v1/check/batch", json={"claims": ["a claim"] * size})
    assert response.status_code == 422
    assert "claims" in response.get_json()["errors"]


def test_corroboration_groups_other_outlets_saying_the_same(client: FlaskClient) -> None:
    same = "Ash from an Icelandic volcano grounded flights across northern Europe."
    for article_id, source, text in [
        ("wire-a", "Outlet One", same + " Airports stayed shut."),
        ("wire-b", "Outlet Two", same + " Travellers were stranded."),
        (
            "cut-2",
            "A rewrite of an Outlet One report",
            "Icelandic volcanic ash grounded flights in northern Europe.",
        ),
        ("other", "Outlet Three", "The football final ended in a draw."),
    ]:
        post(client, {"id": article_id, "title": article_id, "source": source, "text": text})
    body = client.post("/v1/check", json={"claim": "Volcanic ash stopped flights in Europe"})
    evidence = body.get_json()["evidence"]
    first = evidence[0]
    group = {c["article"]["id"] for c in first["corroborated_by"]}
    assert first["article"]["id"] in {"wire-a", "wire-b", "cut-2"}
    assert group == {"wire-a", "wire-b", "cut-2"} - {first["article"]["id"]}
    assert "other" not in {e["article"]["id"] for e in evidence}
    # Two cuts of Outlet One's story count once: three articles, two outlets.
    assert first["independent_sources"] == 2
    assert first["independent_origins"] == 2  # no text credits a common wire
    one = {"wire-a", "cut-2"}
    for other in first["corroborated_by"]:
        both = {first["article"]["id"], other["article"]["id"]}
        assert other["same_outlet"] is (both == one)
        assert other["shared_origin"] is None
    # The identical sentence of the other wire copy takes no slot of its own.
    texts = [e["text"] for e in evidence]
    assert texts.count(same) == 1


def test_one_wire_interview_carried_by_two_outlets_is_one_origin(client: FlaskClient) -> None:
    for article_id, source, text in [
        ("paper", "Harbour Gazette", "Rail strikes will end in May, the minister told WNP."),
        (
            "radio",
            "Valley Radio",
            "In an interview with Wire News Press, the minister said rail strikes would end in"
            " May.",
        ),
    ]:
        post(client, {"id": article_id, "title": article_id, "source": source, "text": text})
    body = client.post("/v1/check", json={"claim": "The minister said rail strikes end in May"})
    first = body.get_json()["evidence"][0]
    [other] = first["corroborated_by"]
    assert {first["article"]["id"], other["article"]["id"]} == {"paper", "radio"}
    assert other["same_outlet"] is False
    assert other["shared_origin"] in {"WNP", "Wire News Press"}
    assert first["independent_sources"] == 2  # two outlets...
    assert first["independent_origins"] == 1  # ...carrying one interview


@pytest.mark.parametrize(
    ("query", "included", "after"),
    [
        ({"published_before": "2021-03-05", "claim_date": "2021-03-05"}, True, False),
        ({"published_after": "2021-03-06"}, False, None),
        ({"published_after": "2021-03-05", "claim_date": "2021-03-04"}, True, True),
        ({"published_before": "2021-03-06T00:00:00Z"}, False, None),  # 04:30 UTC that night
        ({"claim_date": "2021-03-06T03:00:00Z"}, True, True),
    ],
)
def test_bare_dates_are_days_where_the_article_was_published(
    client: FlaskClient, query: dict[str, Any], included: bool, after: bool | None
) -> None:
    post(client, {
        "id": "late", "title": "t", "source": "s", "published_at": "2021-03-05T23:30:00-05:00",
        "text": "The evening session approved the budget.",
    })  # fmt: skip
    body = {"claim": "The budget was approved in the evening session", **query}
    evidence = client.post("/v1/check", json=body).get_json()["evidence"]
    assert bool(evidence) is included
    if included:
        assert evidence[0]["after_claim_date"] is after
