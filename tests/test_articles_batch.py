"""POST /v1/articles/batch: one outcome per article, in order, as single POSTs would have had.

Every response here is checked against openapi.yaml by the spec-checking client; both stores.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.auth import API_KEY, AUTH, AUTH_ENV
from tests.conftest import REDIS_URL, SpecCheckingClient, delete_prefix
from tests.live import LiveServer
from tests.private_redis import PrivateRedis, wait_until

WEIR = {
    "id": "weir",
    "title": "Weir rebuilt",
    "source": "River Desk",
    "text": "The weir was rebuilt in 1974. Its sluice gates were replaced in 2001.",
}
FERRY = {
    "title": "Ferry returns",
    "source": "Coast Desk",
    "text": "The ferry Marigold returned to service on Thursday. The crossing takes 11 minutes.",
}
MILL = {"id": "mill", "title": "Mill", "source": "Desk", "text": "The mill closed in 1962."}
MILL_NEW = {**MILL, "text": "The mill closed in 1962. It reopened as a museum in 1990."}
UNTITLED = {k: v for k, v in FERRY.items() if k != "title"}
NOTHING = {"title": "Blank", "source": "Desk", "text": "... !!! ..."}


@pytest.fixture
def make_client(
    store_url: tuple[str, str], embedder: Embedder, tmp_path: Path
) -> Iterator[Callable[..., FlaskClient]]:
    """Spec-checking clients of apps with extra settings; fresh=True: on another empty store
    of the same backend (to compare with single POSTs)."""
    apps: list[Flask] = []
    prefixes: list[str] = []

    def make(fresh: bool = False, **settings: Any) -> FlaskClient:
        url, prefix = store_url
        if fresh and url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
        elif fresh:
            prefix = f"fctest-{uuid.uuid4().hex[:12]}"
            prefixes.append(prefix)
        app = create_app({"store": url, "redis_prefix": prefix, **settings})
        app.test_client_class = SpecCheckingClient
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["factcheck"].store.close()
    for prefix in prefixes:
        delete_prefix(REDIS_URL, prefix)


def batch(client: FlaskClient, *articles: Any, **kwargs: Any) -> Any:
    return client.post("/v1/articles/batch", json={"articles": list(articles)}, **kwargs)


def test_results_come_in_order_and_a_bad_article_stops_no_other(client: FlaskClient) -> None:
    response = batch(client, WEIR, UNTITLED, FERRY, NOTHING, "not an object either")
    assert response.status_code == 422  # an item that is not an object refuses the batch
    assert "articles" in response.get_json()["errors"]

    response = batch(client, WEIR, UNTITLED, FERRY, NOTHING)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201, 422]
    assert results[0]["article"]["id"] == "weir"
    assert results[0]["article"]["status"] == "created"
    assert results[0]["location"] == "/v1/articles/weir"
    assert "title" in results[1]["problem"]["errors"]
    assert results[1]["problem"]["type"] == "urn:factcheck:problem:validation"
    assert "text" in results[3]["problem"]["errors"]
    listed = client.get("/v1/articles").get_json()["articles"]
    assert sorted(a["id"] for a in listed) == sorted(
        [results[0]["article"]["id"], results[2]["article"]["id"]]
    )


def test_each_article_is_stored_whole_and_found_by_a_check(client: FlaskClient) -> None:
    results = batch(client, WEIR, FERRY).get_json()["results"]
    for result in results:
        detail = client.get(result["location"]).get_json()
        assert detail["statements"] == result["article"]["statements"] == 2
        assert len(detail["statement_list"]) == 2
        for statement in detail["statement_list"]:
            assert detail["text"][statement["start"] : statement["end"]] == statement["text"]
    found = client.post("/v1/check", json={"claim": "When was the weir rebuilt?", "top_k": 1})
    assert found.get_json()["evidence"][0]["article"]["id"] == "weir"


WORDS = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "granite", "heron", "indigo"]
SENTENCES = (f"Survey {n} counted {n % 7 + 2} {' '.join(WORDS[: n % 9 + 1])}." for n in range(300))
LONG = {"id": "long", "title": "Long", "source": "Desk", "text": " ".join(SENTENCES)}


@pytest.mark.slow  # hundreds of statements embedded
def test_every_statement_keeps_its_own_vector(
    client: FlaskClient, app: Flask, embedder: Embedder
) -> None:
    """Embedded together, sorted by length across articles: each vector still lands on its
    own statement (as if the article had been embedded alone)."""
    results = batch(client, WEIR, LONG, FERRY).get_json()["results"]
    assert results[1]["article"]["statements"] == 300
    store = app.extensions["factcheck"].store
    ids = [r["article"]["id"] for r in results]
    for article_id, data in store.load_index_data(ids).items():
        alone = embedder.encode(data.texts)
        assert np.allclose(data.vectors, alone, atol=1e-4), article_id


SEQUENCES = {
    "same content twice, no id": [FERRY, FERRY],
    "same id, same content twice": [WEIR, WEIR],
    "same id, new content": [MILL, MILL_NEW],
    "same id, new content, then the first again": [MILL, MILL_NEW, MILL],
    "an id, then its content without one": [WEIR, {k: v for k, v in WEIR.items() if k != "id"}],
    "refused between identical ones": [FERRY, UNTITLED, FERRY],
}


@pytest.mark.parametrize("records", SEQUENCES.values(), ids=SEQUENCES.keys())
@pytest.mark.parametrize("stored_first", [False, True], ids=["empty", "first stored"])
def test_statuses_are_those_of_single_posts_in_order(
    make_client: Callable[..., FlaskClient], records: list[Any], stored_first: bool
) -> None:
    singles, batched = make_client(fresh=True), make_client()
    if stored_first:  # the batch meets an article already stored
        for client in (singles, batched):
            assert client.post("/v1/articles", json=records[0]).status_code == 201
    expected = []
    for record in records:
        answer = singles.post("/v1/articles", json=record)
        expected.append((answer.status_code, _outcome(answer.get_json())))
    results = batch(batched, *records).get_json()["results"]
    got = [(r["status"], _outcome(r.get("article") or r["problem"])) for r in results]
    assert got == expected


def _outcome(body: dict[str, Any]) -> Any:
    """What must match between a single POST's answer and a batch item: the problem whole,
    or the article written (not its timestamps, which the two stores set apart)."""
    if "problem" in body or "type" in body:
        return body
    return {k: body[k] for k in ("id", "status", "statements", "content_hash")}


def test_an_identical_article_is_embedded_once(client: FlaskClient, app: Flask) -> None:
    store = app.extensions["factcheck"].store
    batch(client, FERRY, FERRY, FERRY)
    version = store.version()
    assert version == 1  # one write: the repeats were found unchanged, not written again
    again = batch(client, FERRY, WEIR).get_json()["results"]
    assert [r["article"]["status"] for r in again] == ["unchanged", "created"]
    assert store.version() == version + 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ([WEIR], 422, "_schema"),
        ({}, 422, "articles"),
        ({"articles": []}, 422, "articles"),
        ({"articles": "weir"}, 422, "articles"),
        ({"articles": [WEIR, 7]}, 422, "articles"),
        ({"articles": [WEIR], "top_k": 1}, 422, "top_k"),
        ({"articles": [WEIR, FERRY, MILL]}, 422, "articles"),  # over max_batch_articles=2
    ],
)
def test_a_batch_of_the_wrong_shape_or_size_is_refused_whole(
    make_client: Callable[..., FlaskClient], body: Any, status: int, field: str
) -> None:
    client = make_client(max_batch_articles=2)
    response = client.post("/v1/articles/batch", json=body)
    assert response.status_code == status
    assert field in response.get_json()["errors"]
    assert client.get("/v1/articles").get_json()["articles"] == []


def test_the_count_limit_names_its_setting(make_client: Callable[..., FlaskClient]) -> None:
    response = batch(make_client(max_batch_articles=1), WEIR, FERRY)
    assert "FACTCHECK_MAX_BATCH_ARTICLES" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (json.dumps({"articles": [WEIR] * 40}), "application/json", 413),  # over 2000 bytes
        ("<html><body>The weir.</body></html>", "text/html", 415),
        ('{"articles": [', "application/json", 400),
    ],
)
def test_a_body_too_large_or_not_json_is_refused_whole(
    make_client: Callable[..., FlaskClient], data: str, content_type: str, status: int
) -> None:
    client = make_client(max_request_bytes=2000)
    response = client.post("/v1/articles/batch", data=data, content_type=content_type)
    assert response.status_code == status
    assert client.get("/v1/articles").get_json()["articles"] == []


def test_an_idempotency_key_replays_the_first_answer(client: FlaskClient) -> None:
    key = {"Idempotency-Key": "batch-once"}
    first = batch(client, WEIR, UNTITLED, headers=key)
    again = batch(client, WEIR, UNTITLED, headers=key)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert again.get_json()["results"][0]["article"]["status"] == "created"  # not unchanged
    other = batch(client, WEIR, headers=key)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]
    assert client.delete("/v1/articles/weir").status_code == 204
    gone = batch(client, WEIR, UNTITLED, headers=key)
    assert gone.status_code == 409
    assert "'weir'" in gone.get_json()["detail"]
    assert client.get("/v1/articles/weir").status_code == 404  # not brought back


def test_a_batch_needs_a_key_and_counts_as_one_write(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(api_keys=API_KEY, rate_limit_writes="2/minute")
    assert batch(client, WEIR).status_code == 401
    wrong = batch(client, WEIR, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    for _ in range(2):  # three articles each, one write each
        assert batch(client, WEIR, FERRY, MILL, headers=AUTH).status_code == 200
    refused = batch(client, WEIR, headers=AUTH)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


@pytest.mark.slow
def test_a_batch_over_real_gunicorn(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'live.db'}"
    with LiveServer({"FACTCHECK_STORE": store, **AUTH_ENV}, workers=2) as server:
        body = json.dumps({"articles": [WEIR, UNTITLED, FERRY]}).encode()
        request = urllib.request.Request(
            server.url + "/v1/articles/batch",
            data=body,
            headers={**AUTH, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            results = json.loads(response.read())["results"]
        assert [r["status"] for r in results] == [201, 422, 201]

        def weir_found() -> bool:  # either worker: the other one syncs on its next request
            claim = urllib.parse.quote("When was the weir rebuilt?")
            with urllib.request.urlopen(f"{server.url}/v1/check?claim={claim}") as found:
                evidence = json.loads(found.read())["evidence"]
            return bool(evidence) and evidence[0]["article"]["id"] == "weir"

        for _ in range(4):  # each worker, whichever answers
            wait_until(weir_found, 30, "the batch's article found by a check")


@pytest.mark.slow  # hundreds of statements embedded
def test_a_store_refusing_writes_fails_the_batch_whole_and_a_retry_completes_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Redis out of memory mid-service: 503 (retry later), no article half-written; with an
    Idempotency-Key the key is released, so the retry runs for real and writes them all."""
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        app = create_app({"store": server.url, "redis_prefix": "batch-refuse"})
        app.test_client_class = SpecCheckingClient
        client = app.test_client()
        key = {"Idempotency-Key": "batch-refused"}
        admin = server.client()
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        refused = batch(client, WEIR, FERRY, LONG)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        admin.config_set("maxmemory", "0")
        store = app.extensions["factcheck"].store
        assert store.count_articles() == 0
        retried = batch(client, WEIR, FERRY, LONG, headers=key)
        assert [r["status"] for r in retried.get_json()["results"]] == [201, 201, 201]
        for article_id, data in store.load_index_data(["weir", "long"]).items():
            assert (
                len(data.texts)
                == len(data.vectors)
                == store.get_article(article_id).statement_count
            )
        store.close()
    finally:
        server.stop()
