"""What one request may cost, over a real socket against gunicorn: a check request's budget
(characters of its claims, claims x top_k) and bounded metric labels."""

from __future__ import annotations

import http.client
import time
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.config import Config
from tests.live import LiveServer
from tests.spec import check_response

pytestmark = pytest.mark.slow
SENTENCE = "the river dam opened in nineteen ninety after the spring flood the ministry said"
WORDS = SENTENCE.split()
# Generous for a shared 2-core machine; the budget is sized for ~2 s there (README, "Access,
# limits and logs").
ALLOWED_S = 15.0
# The method labels a scrape may carry: the standard ones, and "other" for any other token.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def claim(i: int, chars: int) -> str:
    text = f"{i} " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(chars))
    return text[:chars].strip()


def batch(server: LiveServer, claims: int, chars: int, top_k: int) -> tuple[Any, float]:
    body = {"claims": [claim(i, chars) for i in range(claims)], "top_k": top_k, "min_score": -1}
    started = time.perf_counter()
    response = requests.post(f"{server.url}/v1/check/batch", json=body, timeout=120)
    took = time.perf_counter() - started
    check_response(
        "POST", "/v1/check/batch", response.status_code, response.headers["Content-Type"],
        response.json(),
    )  # fmt: skip
    return response, took


@pytest.mark.parametrize(
    ("claims", "chars", "top_k", "setting"),
    [
        (100, 2000, 50, "FACTCHECK_MAX_BATCH_CHARS"),  # the 18 s, 20 MB request
        (100, 2000, 5, "FACTCHECK_MAX_BATCH_CHARS"),
        (11, 2000, 1, "FACTCHECK_MAX_BATCH_CHARS"),
        (100, 200, 50, "FACTCHECK_MAX_BATCH_EVIDENCE"),
        (11, 100, 50, "FACTCHECK_MAX_BATCH_EVIDENCE"),
    ],
)
def test_a_request_over_the_budget_is_refused_before_any_work(
    sample_live: LiveServer, claims: int, chars: int, top_k: int, setting: str
) -> None:
    response, took = batch(sample_live, claims, chars, top_k)
    assert response.status_code == 422, f"{response.status_code} after {took:.1f} s"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert setting in response.json()["detail"]
    assert took < 2.0  # refused up front: no claim was embedded


@pytest.mark.parametrize(
    ("claims", "chars", "top_k"),
    [(10, 2000, 50), (100, 200, 5), (20, 1000, 25), (1, 2000, 50)],
)
def test_the_costliest_requests_allowed_answer_in_seconds(
    sample_live: LiveServer, claims: int, chars: int, top_k: int
) -> None:
    config = Config()
    assert claims * chars <= config.max_batch_chars
    assert claims * top_k <= config.max_batch_evidence
    response, took = batch(sample_live, claims, chars, top_k)
    assert response.status_code == 200
    assert len(response.json()["results"]) == claims
    assert took < ALLOWED_S
    assert len(response.content) < 2_000_000


def raw_request(server: LiveServer, method: str, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def http_request_labels(server: LiveServer) -> dict[tuple[tuple[str, str], ...], float]:
    text = requests.get(f"{server.url}/metrics", timeout=30).text
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "factcheck_http_requests_total"
    }


def test_made_up_methods_do_not_grow_the_metrics(sample_live: LiveServer) -> None:
    made_up = [f"X{n:03d}FAKE" for n in range(60)]
    before = http_request_labels(sample_live)
    statuses = {raw_request(sample_live, method, f"/v1/check?n={method}") for method in made_up}
    assert statuses <= {404, 405}
    after = http_request_labels(sample_live)
    methods = {dict(labels)["method"] for labels in after}
    assert methods <= METHODS | {"other"}, sorted(methods - METHODS)[:5]
    routes = {dict(labels)["route"] for labels in after}
    assert all(route.startswith("/") or route == "unmatched" for route in routes)
    counted = sum(
        value - before.get(labels, 0.0)
        for labels, value in after.items()
        if dict(labels)["method"] == "other"
    )
    assert counted == len(made_up)
    assert len(after) - len(before) <= 2  # at most one new series per status of theirs


def test_corroborations_listed_are_capped_but_all_counted(client: Any) -> None:
    """A story sixteen outlets carry: the first passage lists the ten most similar copies,
    and counts all sixteen outlets."""
    same = "Floodwater closed the ring road around Lindholm for three days."
    for n in range(16):
        article = {
            "id": f"copy-{n:02d}",
            "title": f"Copy {n}",
            "source": f"Outlet {n:02d}",
            "text": f"{same} Report number {n} of the regional desk.",
        }
        assert client.post("/v1/articles", json=article).status_code == 201
    body = client.post("/v1/check", json={"claim": "Floodwater closed the Lindholm ring road"})
    first = body.get_json()["evidence"][0]
    assert len(first["corroborated_by"]) == 10
    similarities = [c["similarity"] for c in first["corroborated_by"]]
    assert similarities == sorted(similarities, reverse=True)
    assert first["independent_sources"] == 16
