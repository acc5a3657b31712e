"""Faults against real processes: a private redis-server that is killed, stopped or paused
under a live gunicorn, and a gunicorn that is killed with SIGKILL.

- Redis outage: every store-bound request answers 503 problem+json with Retry-After within a
  bound derived from FACTCHECK_REDIS_TIMEOUT_S (no hang), /readyz 503, /healthz 200; once
  Redis is back on the same port the service recovers by itself.
- Crash safety: an article acknowledged with 201 survives kill -9 of redis-server (run with
  docker-compose.yml's own durability flags) and of gunicorn (master and workers), and so it
  does with SQLite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.auth import AUTH, AUTH_ENV
from tests.live import LiveServer
from tests.private_redis import PrivateRedis, wait_until
from tests.spec import check_response
from tests.test_compose import as_args, service

pytestmark = pytest.mark.slow

REDIS_TIMEOUT_S = 1.0
# A request makes one failing Redis call before it gives up: the socket timeout, one retry on a
# fresh connection (a pooled one may be stale after a restart) after <= 0.1 s, and the rest
# of the request. A hung Redis costs two timeouts; a dead one (connection refused) nearly none.
OUTAGE_BOUND_S = 2 * REDIS_TIMEOUT_S + 1.5
RECOVERY_S = 30


def compose_redis_durability() -> list[str]:
    """docker-compose.yml's redis-server persistence flags, so that the test runs the same."""
    args = as_args(service("redis")["command"])
    kept: list[str] = []
    for flag in ("--appendonly", "--appendfsync"):
        if flag in args:
            kept += [flag, args[args.index(flag) + 1]]
    return kept


def article(article_id: str, n: int) -> dict[str, Any]:
    rivers = ["Danube", "Rhine", "Loire", "Elbe", "Tagus", "Po", "Oder", "Vistula"]
    return {
        "id": article_id,
        "title": f"Survey {n}",
        "source": f"Desk {n % 3}",
        "text": f"Volunteers counted {n * 37 + 11} herons along the {rivers[n % 8]} on survey "
        f"day {n}, the regional office reported.",
    }


def claim_of(body: dict[str, Any]) -> str:
    return str(body["text"])


def call(method: str, url: str, **kwargs: Any) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.request(method, url, timeout=60, **kwargs)
    return response, time.monotonic() - started


def checked(response: requests.Response) -> requests.Response:
    """The response, once checked against openapi.yaml."""
    path = requests.utils.urlparse(response.url).path
    ctype = response.headers.get("Content-Type", "")
    body = response.json() if "json" in ctype else response.content
    check_response(response.request.method or "", path, response.status_code, ctype, body)
    return response


def kill_server(live: LiveServer) -> None:
    """kill -9 the gunicorn master and every worker at once: no graceful anything."""
    assert live.proc is not None
    workers = [int(pid) for pid in live.worker_pids()]
    for pid in [live.proc.pid, *workers]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    live.proc.wait(timeout=30)
    wait_until(lambda: not any(_running(pid) for pid in workers), 30, "workers to die")


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie is dead, only not reaped yet


# --- Redis outage -------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis", *compose_redis_durability()).start()
    yield server
    server.stop()


def redis_env(server: PrivateRedis, **extra: str) -> dict[str, str]:
    return {
        "FACTCHECK_STORE": server.url,
        "FACTCHECK_REDIS_PREFIX": "faults",
        "FACTCHECK_REDIS_TIMEOUT_S": str(REDIS_TIMEOUT_S),
        **AUTH_ENV,
        **extra,
    }


def _outage_requests(base: str) -> list[tuple[str, str, dict[str, Any]]]:
    fresh = article("during-outage", 99)
    return [
        ("GET", f"{base}/v1/check", {"params": {"claim": "herons on the Danube"}}),
        ("POST", f"{base}/v1/check", {"json": {"claim": "herons on the Danube"}}),
        ("POST", f"{base}/v1/check/batch", {"json": {"claims": ["herons", "the Rhine"]}}),
        ("POST", f"{base}/v1/articles", {"json": fresh, "headers": AUTH}),
        ("DELETE", f"{base}/v1/articles/outage-0", {"headers": AUTH}),
        ("GET", f"{base}/v1/articles/outage-0", {}),
        ("GET", f"{base}/v1/articles", {"params": {"limit": 5}}),
        ("GET", f"{base}/readyz", {}),
    ]


def assert_outage(base: str) -> dict[str, float]:
    """Every store-bound request fails fast and cleanly; liveness stays up."""
    took: dict[str, float] = {}
    for method, url, kwargs in _outage_requests(base):
        # Twice each, so that both workers (and pooled connections) are exercised.
        for _ in range(2):
            response, elapsed = call(method, url, **kwargs)
            name = f"{method} {url.removeprefix(base)}"
            assert response.status_code == 503, (name, response.status_code, response.text)
            assert response.headers["Content-Type"].startswith("application/problem+json")
            assert int(response.headers["Retry-After"]) > 0, name
            assert response.json()["status"] == 503
            checked(response)
            assert elapsed < OUTAGE_BOUND_S, f"{name} took {elapsed:.2f}s during the outage"
            took[name] = max(took.get(name, 0.0), elapsed)
    healthz, elapsed = call("GET", f"{base}/healthz")
    assert healthz.status_code == 200 and elapsed < OUTAGE_BOUND_S
    return took


def assert_recovers(base: str, claim: str, expected_id: str) -> float:
    """No restart of ours: the service answers again by itself once Redis does."""
    started = time.monotonic()

    def answers() -> bool:
        response = requests.get(f"{base}/v1/check", params={"claim": claim}, timeout=30)
        return response.status_code == 200 and any(
            e["article"]["id"] == expected_id for e in response.json()["evidence"]
        )

    wait_until(answers, RECOVERY_S, "checks to answer 200 again", interval_s=0.2)
    recovered = time.monotonic() - started
    # ...on every worker: a run of checks in pairs, all found, readiness back too.
    for _ in range(10):
        assert answers()
    assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
    return recovered


@pytest.mark.parametrize("fault", ["SIGKILL", "SIGTERM", "SIGSTOP"])
def test_redis_outage_answers_503_fast_and_recovers(redis_server: PrivateRedis, fault: str) -> None:
    with LiveServer(redis_env(redis_server), workers=2) as live:
        base = live.url
        first = article("outage-0", 0)
        created = requests.post(f"{base}/v1/articles", json=first, headers=AUTH, timeout=60)
        assert created.status_code == 201, created.text
        assert_recovers(base, claim_of(first), "outage-0")

        if fault == "SIGSTOP":
            redis_server.send(signal.SIGSTOP)  # hung: accepts connections, never answers
        else:
            redis_server.kill(getattr(signal, fault))
        took = assert_outage(base)
        print(f"\n{fault}: slowest answer per request during the outage (s): {took}")

        if fault == "SIGSTOP":
            redis_server.send(signal.SIGCONT)
        else:
            redis_server.start()  # same port, same data dir
        recovered = assert_recovers(base, claim_of(first), "outage-0")
        print(f"{fault}: checks answered 200 again {recovered:.2f}s after Redis came back")

        second = article("after-outage", 1)
        created = requests.post(f"{base}/v1/articles", json=second, headers=AUTH, timeout=60)
        assert created.status_code == 201, created.text
        assert_recovers(base, claim_of(second), "after-outage")
        assert "Traceback" not in live.log()


def test_api_starts_while_redis_is_down_and_serves_once_it_is_up(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path / "redis", *compose_redis_durability())
    try:
        with LiveServer(redis_env(server), workers=2) as live:  # Redis not started yet
            assert_outage(live.url)
            server.start()
            first = article("late-0", 0)
            wait_until(
                lambda: requests.get(f"{live.url}/readyz", timeout=30).status_code == 200,
                RECOVERY_S,
                "readiness",
            )
            created = requests.post(f"{live.url}/v1/articles", json=first, headers=AUTH, timeout=60)
            assert created.status_code == 201, created.text
            assert_recovers(live.url, claim_of(first), "late-0")
    finally:
        server.stop()


# --- crash safety -------------------------------------------------------------------------


def ingest_concurrently(base: str, count: int, threads: int = 4) -> set[str]:
    """POST `count` new articles from several threads; the ids acknowledged with 201."""
    acked: set[str] = set()
    lock = threading.Lock()

    def writer(t: int) -> None:
        for i in range(t, count, threads):
            body = article(f"crash-{i:03d}", i)
            response = requests.post(f"{base}/v1/articles", json=body, headers=AUTH, timeout=60)
            assert response.status_code == 201, response.text
            with lock:
                acked.add(body["id"])

    pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert len(acked) == count
    return acked


def stored_ids(base: str) -> set[str]:
    ids: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = checked(requests.get(f"{base}/v1/articles", params=params, timeout=30)).json()
        ids |= {a["id"] for a in page["articles"]}
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def assert_found_by_checks(base: str, ids: set[str]) -> None:
    for article_id in sorted(ids):
        n = int(article_id.rsplit("-", 1)[1])
        claim = claim_of(article(article_id, n))
        body = requests.get(f"{base}/v1/check", params={"claim": claim}, timeout=30).json()
        assert body["evidence"] and body["evidence"][0]["article"]["id"] == article_id, body


CRASH_ARTICLES = 24


def test_acknowledged_articles_survive_kill9_of_redis_and_api(tmp_path: Path) -> None:
    durability = compose_redis_durability()
    assert "--appendonly" in durability, "compose must keep Redis data in an append-only file"
    redis_server = PrivateRedis(tmp_path / "redis", *durability).start()
    try:
        with LiveServer(redis_env(redis_server), workers=2) as live:
            acked = ingest_concurrently(live.url, CRASH_ARTICLES)
            # The instant the last 201 arrived: no graceful shutdown for either.
            redis_server.kill(signal.SIGKILL)
            kill_server(live)

        redis_server.start()  # replays the append-only file
        with LiveServer(redis_env(redis_server), workers=2) as live:
            assert stored_ids(live.url) == acked
            assert requests.get(f"{live.url}/readyz", timeout=30).json()["status"] == "ready"
            assert_found_by_checks(live.url, acked)
    finally:
        redis_server.stop()


def test_acknowledged_articles_survive_kill9_of_api_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "factcheck.db"
    env = {"FACTCHECK_STORE": f"sqlite:///{db}", **AUTH_ENV}
    with LiveServer(env, workers=2) as live:
        acked = ingest_concurrently(live.url, CRASH_ARTICLES)
        kill_server(live)

    with sqlite3.connect(db) as conn:  # opened as it was left: WAL and all
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {row[0] for row in conn.execute("SELECT id FROM articles")} == acked
    with LiveServer(env, workers=2) as live:
        assert stored_ids(live.url) == acked
        assert_found_by_checks(live.url, acked)


# --- Redis up but refusing writes ---------------------------------------------------------


def _refuse_writes(client: Any, how: str) -> None:
    if how == "oom":  # maxmemory far below what is in use, no eviction: every write is OOM
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
    else:  # a failover pointed us at a replica: READONLY (its master never answers)
        client.execute_command("REPLICAOF", "127.0.0.1", "1")


def _accept_writes(client: Any, how: str) -> None:
    if how == "oom":
        client.config_set("maxmemory", "0")
    else:
        client.execute_command("REPLICAOF", "NO", "ONE")


@pytest.mark.parametrize("how", ["oom", "readonly"])
def test_redis_refusing_writes_answers_503_not_500(
    redis_server: PrivateRedis, embedder: Any, how: str
) -> None:
    from service import create_app
    from tests.conftest import SpecCheckingClient

    app = create_app({"store": redis_server.url, "redis_prefix": "refuse"})
    app.test_client_class = SpecCheckingClient
    http = app.test_client()
    first = article("refuse-0", 0)
    assert http.post("/v1/articles", json=first, headers=AUTH).status_code == 201
    admin = redis_server.client()
    _refuse_writes(admin, how)
    try:
        for response in [
            http.post("/v1/articles", json=article("refuse-1", 1), headers=AUTH),
            http.delete("/v1/articles/refuse-0", headers=AUTH),
        ]:
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.mimetype == "application/problem+json"
            assert int(response.headers["Retry-After"]) > 0
        check = http.get("/v1/check", query_string={"claim": claim_of(first)})
        if how == "readonly":  # reads still work: checks find what was stored before
            assert check.get_json()["evidence"][0]["article"]["id"] == "refuse-0"
        else:  # out of memory, Redis refuses to queue even reads in MULTI: also a clean 503
            assert check.status_code == 503 and check.headers["Retry-After"]
    finally:
        _accept_writes(admin, how)
    assert http.post("/v1/articles", json=article("refuse-1", 1), headers=AUTH).status_code == 201
    app.extensions["factcheck"].store.close()
    admin.close()
