"""Idempotency keys are leased (FACTCHECK_IDEMPOTENCY_LEASE_S), not held for a day: a keyed
POST whose request died (gunicorn workers killed, Redis killed) blocks its retries with 409
only until the lease lapses, and then a retry runs and completes. A live request renews its
lease, so a slow one is never run twice; an answer, once there, is kept for a day."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from service.store import Store
from service.store.idempotency import TTL_S, IdempotencyLog, Recorded, open_idempotency_log
from service.store.redis import RedisStore
from service.store.sqlite import SQLiteStore
from tests.auth import AUTH, AUTH_ENV
from tests.live import LiveServer
from tests.private_redis import PrivateRedis, wait_until
from tests.test_faults import checked, compose_redis_durability, kill_server

LEASE_S = 2.0
SENTENCE = "The night ferry ran late on Tuesday because of fog over the estuary."
RIVERS = ["Danube", "Rhine", "Loire", "Elbe", "Tagus", "Oder", "Vistula", "Ebro", "Douro"]


def big_article(sentences: int = 1000) -> dict[str, Any]:
    """An article of about `sentences` distinct statements: seconds to segment and embed."""
    lines = [
        f"Volunteers counted {n * 37 + 11} herons along the {RIVERS[n % 9]} on day {n}."
        for n in range(sentences)
    ]
    paragraphs = [" ".join(lines[i : i + 10]) for i in range(0, sentences, 10)]
    return {
        "id": "heron-census",
        "title": "The heron census",
        "source": "Survey Desk",
        "text": "\n\n".join(paragraphs),
    }


def keyed(key: str) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": key}


def retry_until_done(base: str, body: dict[str, Any], key: str, timeout_s: float) -> Any:
    """Retry the keyed POST until it is answered for real (409 and 503 mean: not yet)."""
    seen: list[int] = []

    def attempt() -> requests.Response | None:
        response = checked(
            requests.post(f"{base}/v1/articles", json=body, headers=keyed(key), timeout=60)
        )
        seen.append(response.status_code)
        assert response.status_code in (201, 409, 503), response.text
        return response if response.status_code == 201 else None

    try:
        return wait_until(attempt, timeout_s, "a retry to complete", interval_s=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; answers seen: {sorted(set(seen))}") from exc


def assert_written(base: str, response: requests.Response, body: dict[str, Any]) -> None:
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["status"] == "created"
    stored = checked(requests.get(f"{base}/v1/articles/{body['id']}", timeout=30))
    assert stored.status_code == 200
    assert stored.json()["statements"] == response.json()["statements"] > 900
    again = requests.post(f"{base}/v1/articles", json=body, headers=keyed("census"), timeout=60)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.slow
def test_a_keyed_ingest_whose_workers_were_killed_completes_after_the_lease(
    tmp_path: Path,
) -> None:
    db = tmp_path / "factcheck.db"
    env = {"FACTCHECK_STORE": f"sqlite:///{db}", "FACTCHECK_IDEMPOTENCY_LEASE_S": str(LEASE_S)}
    env |= AUTH_ENV
    body = big_article()

    with LiveServer(env, workers=2) as live:
        post = threading.Thread(
            target=lambda: _swallow(requests.post, f"{live.url}/v1/articles", body, "census"),
            daemon=True,
        )
        post.start()
        wait_until(lambda: _reserved(db), 30, "the key to be reserved")
        kill_server(live)  # mid-ingest: the reservation is written, the article is not
        post.join(timeout=60)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0

    with LiveServer(env, workers=2) as live:
        done = retry_until_done(live.url, body, "census", timeout_s=LEASE_S + 60)
        assert_written(live.url, done, body)


@pytest.mark.slow
def test_a_keyed_ingest_whose_redis_died_completes_after_the_lease(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis", *compose_redis_durability()).start()
    env = {
        "FACTCHECK_STORE": server.url,
        "FACTCHECK_REDIS_PREFIX": "lease",
        "FACTCHECK_REDIS_TIMEOUT_S": "1",
        "FACTCHECK_IDEMPOTENCY_LEASE_S": str(LEASE_S),
        **AUTH_ENV,
    }
    body = big_article()
    answers: list[int] = []
    try:
        with LiveServer(env, workers=2) as live:
            client = server.client()
            post = threading.Thread(
                target=lambda: answers.append(
                    requests.post(
                        f"{live.url}/v1/articles", json=body, headers=keyed("census"), timeout=60
                    ).status_code
                )
            )
            post.start()
            wait_until(lambda: list(client.scan_iter("lease:idem:*")), 30, "the reservation")
            server.kill(signal.SIGKILL)
            post.join(timeout=60)
            assert answers == [503]
            server.start()  # replays the append-only file: the reservation is back
            done = retry_until_done(live.url, body, "census", timeout_s=LEASE_S + 60)
            assert_written(live.url, done, body)
            [name] = list(server.client().scan_iter("lease:idem:*"))
            assert server.client().ttl(name) > TTL_S - 60  # the answer is kept for a day
    finally:
        server.stop()


@pytest.mark.slow
def test_a_slow_live_request_outlasting_its_lease_is_never_run_twice(tmp_path: Path) -> None:
    """The big article takes seconds to ingest, many times a 0.5 s lease: the running request's
    heartbeat keeps the key, so every retry meanwhile is told 409, and the first answer is
    then replayed (one write in the store)."""
    db = tmp_path / "factcheck.db"
    env = {"FACTCHECK_STORE": f"sqlite:///{db}", "FACTCHECK_IDEMPOTENCY_LEASE_S": "0.5"}
    env |= AUTH_ENV | {"FACTCHECK_RATE_LIMIT_WRITES": "off"}
    body = big_article()
    first: list[requests.Response] = []
    with LiveServer(env, workers=2) as live:
        url = f"{live.url}/v1/articles"
        post = threading.Thread(
            target=lambda: first.append(
                requests.post(url, json=body, headers=keyed("census"), timeout=120)
            )
        )
        started = time.monotonic()
        post.start()
        wait_until(lambda: _reserved(db), 30, "the first request to reserve its key")
        retries: list[str] = []
        while post.is_alive():  # the other worker answers the retries
            retry = checked(requests.post(url, json=body, headers=keyed("census"), timeout=120))
            replayed = retry.headers.get("Idempotent-Replayed") == "true"
            retries.append(f"{retry.status_code}{' replayed' if replayed else ''}")
            time.sleep(0.1)  # pacing the retries only; the loop ends with the first request
        took = time.monotonic() - started
        assert first[0].status_code == 201, first[0].text
        assert took > 4 * 0.5, f"the ingest took {took:.1f} s: not longer than the lease"
        # 409 while it runs; the replay once it is answered (maybe before its client reads it).
        assert retries.count("409") >= 3 and set(retries) <= {"409", "201 replayed"}, retries
        replay = requests.post(url, json=body, headers=keyed("census"), timeout=60)
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == first[0].json()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone() == (1,)


def _reserved(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return bool(conn.execute("SELECT count(*) FROM idempotency").fetchone()[0])


def _swallow(post: Any, url: str, body: dict[str, Any], key: str) -> None:
    """The POST whose server is killed under it: its failure is the point."""
    with contextlib.suppress(requests.RequestException):
        post(url, json=body, headers=keyed(key), timeout=60)


@pytest.fixture
def log(store: Store) -> Iterator[IdempotencyLog]:
    yield open_idempotency_log(store, lease_s=0.3)


def test_a_lapsed_lease_is_taken_over_and_its_old_owner_cannot_touch_it(
    log: IdempotencyLog, store: Store
) -> None:
    assert log.reserve("k", "fp", "dead") is None
    held = log.reserve("k", "fp", "retry")
    assert held is not None and held.status is None and held.owner == "dead"
    wait_until(lambda: log.reserve("k", "fp", "retry") is None, 10, "the lease to lapse")
    # The request that lost its lease neither renews, overwrites nor frees the retry's key.
    assert not log.renew("k", "dead")
    log.complete("k", "dead", Recorded("fp", 200, {"late": True}, {}))
    log.release("k", "dead")
    still = log.reserve("k", "fp", "third")
    assert still is not None and still.owner == "retry" and still.status is None
    log.complete("k", "retry", Recorded("fp", 201, {"ok": True}, {"Location": "/x"}))
    deadline = time.monotonic() + 1.0  # three leases: an answer does not lapse with them
    while time.monotonic() < deadline:
        answer = log.reserve("k", "fp", "later")
        assert answer is not None and answer.status == 201 and answer.body == {"ok": True}
        time.sleep(0.05)  # pacing the checks only; nothing is awaited
    assert _seconds_left(store, "k") > TTL_S - 60


def _seconds_left(store: Store, key: str) -> float:
    """How long the store keeps what a key holds."""
    if isinstance(store, SQLiteStore):
        row = store._conn().execute("SELECT expires FROM idempotency WHERE key = ?", (key,))
        return float(row.fetchone()[0]) - time.time()
    assert isinstance(store, RedisStore)
    return float(store.client.ttl(store._key("idem", key)))


def test_a_live_request_keeps_its_key_beyond_the_lease(log: IdempotencyLog) -> None:
    with log.leased("slow", "fp") as (held, owner):
        assert held is None
        deadline = time.monotonic() + 10 * log.lease_s  # ten leases of a slow request
        while time.monotonic() < deadline:
            other = log.reserve("slow", "fp", "retry")
            assert other is not None and other.owner == owner
            time.sleep(0.05)  # pacing the checks only; nothing is awaited
    log.complete("slow", owner, Recorded("fp", 201, {}, {}))
    answer = log.reserve("slow", "fp", "retry")
    assert answer is not None and answer.status == 201


def test_a_replay_never_points_at_an_article_deleted_since(client: Any) -> None:
    body = {"id": "gone-soon", "title": "Gone soon", "source": "Desk", "text": SENTENCE}
    headers = {"Idempotency-Key": "create-gone-soon"}
    first = client.post("/v1/articles", json=body, headers=headers)
    assert first.status_code == 201
    assert client.delete(first.headers["Location"]).status_code == 204
    retry = client.post("/v1/articles", json=body, headers=headers)
    assert retry.status_code == 409 and "Location" not in retry.headers
    assert "deleted since" in retry.get_json()["detail"]  # not "still running": waiting won't help
    assert "Retry-After" not in retry.headers  # nor may a retry-honouring client wait for it
    assert "Idempotency-Key" in retry.get_json()["errors"]
    assert client.get("/v1/articles/gone-soon").status_code == 404  # the delete stands
    anew = client.post("/v1/articles", json=body, headers={"Idempotency-Key": "create-again"})
    assert anew.status_code == 201 and anew.get_json()["status"] == "created"
    # While the article exists, the replay is the first answer, Location and all.
    again = client.post("/v1/articles", json=body, headers={"Idempotency-Key": "create-again"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == anew.headers["Location"]
