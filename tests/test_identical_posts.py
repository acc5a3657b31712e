"""Identical POSTs without an id, sent at once to real gunicorn (two workers) on each store:
the id derives from the content, and the store compares the content hash inside its write, so
one answer is 201 created and every other one 200 unchanged; identical content is never
"replaced" (no second write, no version bump)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from service.store import open_store
from tests.auth import AUTH, AUTH_ENV
from tests.live import LiveServer
from tests.test_faults import checked

pytestmark = pytest.mark.slow

CLIENTS = 8
# Enough statements that embedding takes a while: both workers are inside the same ingest.
BODY = {
    "title": "Lighthouse keepers' log",
    "source": "Coast Desk",
    "text": "\n\n".join(
        f"The keeper of lighthouse {n} logged {n * 17 + 3} ships passing on night {n}. "
        f"Fog closed the channel for {n % 9 + 1} hours before dawn on day {n}."
        for n in range(30)
    ),
}


@pytest.fixture
def server(store_url: tuple[str, str]) -> Iterator[LiveServer]:
    url, prefix = store_url
    env = {
        "FACTCHECK_STORE": url,
        "FACTCHECK_REDIS_PREFIX": prefix,
        "FACTCHECK_RATE_LIMIT_WRITES": "off",
        **AUTH_ENV,
    }
    with LiveServer(env, workers=2) as live:
        yield live


def test_identical_concurrent_posts_create_once_and_are_otherwise_unchanged(
    server: LiveServer, store_url: tuple[str, str]
) -> None:
    barrier = threading.Barrier(CLIENTS)

    def post(_: int) -> requests.Response:
        barrier.wait(timeout=30)
        url = f"{server.url}/v1/articles"
        return checked(requests.post(url, json=BODY, headers=AUTH, timeout=120))

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(post, range(CLIENTS)))
    outcomes = sorted((a.status_code, a.json()["status"]) for a in answers)
    assert outcomes == [(200, "unchanged")] * (CLIENTS - 1) + [(201, "created")], outcomes
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.headers["Location"] for a in answers}) == 1
    store = open_store(store_url[0], redis_prefix=store_url[1])
    try:
        assert store.count_articles() == 1
        assert store.version() == 1  # one write: the seven others wrote nothing
    finally:
        store.close()
