"""Two independent gunicorn instances (two ports, as two API replicas would be) over one Redis:
an article posted to one is found by the other's next check, and concurrent writes to both
lose nothing and duplicate nothing, in the store or in either instance's index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from bench.corpus import articles
from tests.conftest import REDIS_URL, delete_prefix, redis_available
from tests.live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
def replicas() -> Iterator[tuple[LiveServer, LiveServer]]:
    if not redis_available():
        pytest.fail(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"fctest-{uuid.uuid4().hex[:12]}"
    env = {"FACTCHECK_STORE": REDIS_URL, "FACTCHECK_REDIS_PREFIX": prefix}
    a, b = LiveServer(env, workers=1), LiveServer(env, workers=1)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        delete_prefix(REDIS_URL, prefix)


def _check(server: LiveServer, claim: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.url}/v1/check", json={"claim": claim, "top_k": 3}, timeout=60
    )
    assert response.status_code == 200
    return dict(response.json())


def _all_ids(server: LiveServer) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        body = requests.get(f"{server.url}/v1/articles", params=params, timeout=30).json()
        ids += [a["id"] for a in body["articles"]]
        cursor = body.get("next_cursor")
        if not cursor:
            return ids


def test_a_post_to_one_replica_is_found_by_the_other(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    a, b = replicas
    bench = next(iter(articles(4, per_article=4, seed=21)))
    sentence = str(bench.fields["text"]).split("\n")[1]
    assert requests.post(f"{a.url}/v1/articles", json=bench.fields, timeout=60).status_code == 201
    # No wait: B's next check syncs its index from the shared change sequence first.
    found = [e["article"]["id"] for e in _check(b, sentence)["evidence"]]
    assert found[0] == bench.fields["id"]


def test_concurrent_writes_to_both_replicas_lose_and_duplicate_nothing(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    a, b = replicas
    own = list(articles(120, per_article=4, seed=22))  # 30 articles, split between replicas
    # The same content posted to both at once, without an id: one article (content hash).
    shared = [dict(x.fields) for x in articles(20, per_article=4, seed=23)]
    for fields in shared:
        fields.pop("id")
    jobs = [(a if i % 2 else b, x.fields) for i, x in enumerate(own)]
    jobs += [(server, fields) for fields in shared for server in (a, b)]

    def post(job: tuple[LiveServer, dict[str, Any]]) -> tuple[int, str]:
        server, fields = job
        response = requests.post(f"{server.url}/v1/articles", json=fields, timeout=120)
        return response.status_code, str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(post, jobs))
    assert all(status in (200, 201) for status, _ in results)
    shared_ids = {
        article_id
        for (_, fields), (_, article_id) in zip(jobs, results, strict=True)
        if "id" not in fields
    }
    assert len(shared_ids) == len(shared)  # each shared content became exactly one article
    expected = {str(x.fields["id"]) for x in own} | shared_ids

    for server in (a, b):
        listed = _all_ids(server)
        assert sorted(listed) == sorted(expected)  # none lost, none twice
        stats = _check(server, "inflation rose by 5 percent")["index"]
        assert stats["articles"] == len(expected)
        assert stats["statements"] == 4 * len(expected)  # every article has 4 statements
