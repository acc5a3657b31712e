"""The wrong-key budget (FACTCHECK_RATE_LIMIT_AUTH_FAILURES) holds when guesses arrive all at
once and when Redis refuses writes, and costs a keyed request no extra Redis timeouts."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.core.embed import Embedder
from tests.conftest import SpecCheckingClient
from tests.live import free_port
from tests.private_redis import PrivateRedis

KEY = "k-guess-77a1"
ARTICLE = {"id": "weir", "title": "Weir", "source": "Desk", "text": "The weir was rebuilt in 1974."}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def app_of(store: str, prefix: str, budget: str) -> Flask:
    settings = {"store": store, "redis_prefix": prefix, "api_keys": KEY}
    app = create_app({**settings, "rate_limit_auth_failures": budget, "redis_timeout_s": 1.0})
    app.test_client_class = SpecCheckingClient
    return app


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def test_guesses_sent_all_at_once_spend_the_budget_exactly(
    store_url: tuple[str, str], embedder: Embedder
) -> None:
    """Checked and counted in one step: 40 concurrent wrong keys, budget 10, ten 401s."""
    app = app_of(*store_url, budget="10/minute")
    start = threading.Barrier(40)
    answers: list[int] = []

    def guess(n: int) -> None:
        client = app.test_client()
        start.wait()
        answers.append(
            client.post("/v1/articles", json=ARTICLE, headers=bearer(f"g{n}")).status_code
        )

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app.extensions["factcheck"].store.close()
    assert Counter(answers) == {401: 10, 429: 30}


@pytest.mark.parametrize(
    "refuse",
    [["REPLICAOF", "127.0.0.1", str(free_port())], ["CONFIG", "SET", "maxmemory", "1"]],
    ids=["read-only-replica", "out-of-memory"],
)
def test_the_budget_holds_while_redis_refuses_writes(
    redis_server: PrivateRedis, embedder: Embedder, refuse: list[str]
) -> None:
    app = app_of(redis_server.url, "guess", budget="4/minute")
    client: FlaskClient = app.test_client()
    admin = redis_server.client()
    admin.execute_command(*refuse)
    try:
        codes = [
            client.post("/v1/articles", json=ARTICLE, headers=bearer(f"g{n}")).status_code
            for n in range(8)
        ]
        right = client.get("/v1/articles", headers=bearer(KEY))
    finally:
        admin.execute_command(
            *(
                ["REPLICAOF", "NO", "ONE"]
                if refuse[0] == "REPLICAOF"
                else ["CONFIG", "SET", "maxmemory", "0"]
            )
        )
        admin.close()
        app.extensions["factcheck"].store.close()
    assert codes == [401] * 4 + [429] * 4
    assert right.status_code == 429  # the right key too, else the answer tells it apart
    assert int(right.headers["Retry-After"]) > 0


def test_a_keyed_request_to_a_hung_redis_pays_one_timeout(
    redis_server: PrivateRedis, embedder: Embedder
) -> None:
    """The budget's Redis call is the request's only one: a hung Redis answers 503 within one
    socket timeout (1 s here), and the following keyed requests skip the shared counters."""
    app = app_of(redis_server.url, "guess", budget="10/minute")
    client = app.test_client()
    assert client.post("/v1/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 201
    redis_server.send(signal.SIGSTOP)
    took: list[tuple[int, float]] = []
    try:
        for method, key in (("GET", KEY), ("POST", "wrong"), ("GET", KEY)):
            started = time.monotonic()
            response: Any = client.open(
                "/v1/articles" + ("/weir" if method == "GET" else ""),
                method=method,
                json=ARTICLE if method == "POST" else None,
                headers=bearer(key),
            )
            took.append((response.status_code, time.monotonic() - started))
    finally:
        redis_server.send(signal.SIGCONT)
        app.extensions["factcheck"].store.close()
    assert took[0][0] == 503 and took[0][1] < 1.5, took
    assert took[1][0] == 401 and took[1][1] < 0.5, took  # counted here, no Redis call
    # No budget call: only the limiter's and the store's own, the documented outage bound.
    assert took[2][0] == 503 and took[2][1] < 2 * 1.0 + 1.5, took
