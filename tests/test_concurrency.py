"""Many client threads ingesting, replacing, deleting and checking at once against real
gunicorn with two workers, on each store: afterwards the store holds exactly the articles the
acknowledged writes imply, and every worker's index agrees with the store (same articles, same
statement count, same version), finds every stored article and none of the deleted ones."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.auth import AUTH, AUTH_ENV
from tests.live import LiveServer
from tests.test_faults import checked, stored_ids

pytestmark = pytest.mark.slow

THREADS = 8
OPS_PER_THREAD = 16
OWNED_PER_THREAD = 3  # ids only one thread writes: their final state is known exactly
CONTESTED = ["shared-0", "shared-1"]  # ids every thread writes: store and index must agree
RIVERS = ["Danube", "Rhine", "Loire", "Elbe", "Tagus", "Po", "Oder", "Vistula", "Ebro"]


def text_of(article_id: str, version: int) -> str:
    """1..3 statements, different for every (id, version)."""
    seed = sum(map(ord, article_id)) * 101 + version
    river = RIVERS[seed % len(RIVERS)]
    sentences = [
        f"Observers logged {seed * 7 + 3} cormorants on the {river} at dawn of day {seed}.",
        f"The {river} ferry number {seed * 13 + 5} was delayed by fog for {seed % 50} minutes.",
        f"Engineers repainted {seed * 3 + 1} lamp posts along the {river} quay in week {seed}.",
    ]
    return "\n".join(sentences[: 1 + version % 3])


def body_of(article_id: str, version: int) -> dict[str, Any]:
    return {
        "id": article_id,
        "title": f"{article_id} v{version}",
        "source": f"Desk {version % 4}",
        "text": text_of(article_id, version),
    }


@pytest.fixture
def server(store_url: tuple[str, str]) -> Iterator[LiveServer]:
    url, prefix = store_url
    env = {
        "FACTCHECK_STORE": url,
        "FACTCHECK_REDIS_PREFIX": prefix,
        # This test is about consistency under a storm, not about being refused (429).
        "FACTCHECK_RATE_LIMIT_READS": "off",
        "FACTCHECK_RATE_LIMIT_WRITES": "off",
        **AUTH_ENV,
    }
    with LiveServer(env, workers=2) as live:
        yield live


def storm(base: str) -> tuple[dict[str, str | None], set[str]]:
    """Run every thread's ops; the final text of each owned id (None: deleted or never made),
    and every text ever written (to look for leftovers of deleted or replaced versions)."""
    expected: dict[str, str | None] = {}
    written: set[str] = set()
    lock = threading.Lock()
    session_errors: list[str] = []

    def worker(t: int) -> None:
        rng = random.Random(t)
        owned = [f"t{t}-a{i}" for i in range(OWNED_PER_THREAD)]
        mine: dict[str, str | None] = dict.fromkeys(owned)
        versions = dict.fromkeys([*owned, *CONTESTED], 0)
        session = requests.Session()
        for _ in range(OPS_PER_THREAD):
            op = rng.choice(["put", "put", "delete", "check", "check"])
            article_id = rng.choice(owned + CONTESTED)
            if op == "put":
                versions[article_id] += 1
                body = body_of(article_id, versions[article_id] * 10 + t)
                with lock:
                    written.add(body["text"])
                r = session.post(f"{base}/v1/articles", json=body, headers=AUTH, timeout=60)
                ok = r.status_code in (200, 201)
                if ok and article_id in mine:
                    mine[article_id] = body["text"]
            elif op == "delete":
                r = session.delete(f"{base}/v1/articles/{article_id}", headers=AUTH, timeout=60)
                ok = r.status_code in (204, 404)
                if article_id in mine:
                    # 404 only when it was not there: the owner knows which it must be.
                    ok = ok and (r.status_code == 204) == (mine[article_id] is not None)
                    mine[article_id] = None
            else:
                claim = text_of(article_id, rng.randrange(100)).split("\n")[0]
                r = session.get(f"{base}/v1/check", params={"claim": claim}, timeout=60)
                ok = r.status_code == 200
            checked(r)
            if not ok:
                with lock:
                    session_errors.append(f"{op} {article_id}: {r.status_code} {r.text[:200]}")
        with lock:
            expected.update(mine)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    assert session_errors == []
    return expected, written


def probe_indexes(live: LiveServer, rounds: int = 48) -> dict[str, set[str]]:
    """Checks tagged with unique claims, sent in parallel so that both workers answer; the
    `index` stats each answer reported, by tag (sent as X-Request-ID too, the tag finds the
    worker's pid in the request log)."""

    def one(i: int) -> tuple[str, str]:
        tag = f"probe{i:03d}"
        body = requests.get(
            f"{live.url}/v1/check",
            params={"claim": tag},
            headers={"X-Request-ID": tag},  # the request log names it, never the claim
            timeout=30,
        ).json()
        return tag, json.dumps(body["index"], sort_keys=True)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(pool.map(one, range(rounds)))
    return {tag: {stats} for tag, stats in answers.items()}


def test_store_and_every_worker_index_consistent_after_a_storm(server: LiveServer) -> None:
    base = server.url

    # Same content, no id, from every thread at once: one id, exactly one 201.
    twin = {"title": "Twin", "source": "Desk T", "text": text_of("twin", 1)}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        twins = list(
            pool.map(
                lambda _: requests.post(f"{base}/v1/articles", json=twin, headers=AUTH, timeout=60),
                range(THREADS),
            )
        )
    assert sorted(r.status_code for r in twins) == [200] * (THREADS - 1) + [201]
    twin_id = {r.json()["id"] for r in twins}
    assert len(twin_id) == 1

    expected, written = storm(base)

    stored = stored_ids(base)
    owned_present = {i for i, text in expected.items() if text is not None}
    assert stored - set(CONTESTED) - twin_id == owned_present
    details = {
        i: checked(requests.get(f"{base}/v1/articles/{i}", timeout=30)).json() for i in stored
    }
    for article_id, text in expected.items():
        if text is not None:
            assert details[article_id]["text"] == text, article_id
    statements = sum(d["statements"] for d in details.values())

    # Every worker: the same index as the store, and it finds what the store holds...
    probes = probe_indexes(server)
    reported = set().union(*probes.values())
    assert len(reported) == 1, f"workers disagree: {reported}"
    stats = json.loads(next(iter(reported)))
    assert stats["articles"] == len(stored)
    assert stats["statements"] == statements
    live_texts = {d["text"] for d in details.values()}
    for article_id, detail in details.items():
        first = detail["text"].split("\n")[0]
        for _ in range(2):
            body = requests.get(f"{base}/v1/check", params={"claim": first}, timeout=30).json()
            assert body["evidence"][0]["article"]["id"] == article_id
    # ...and nothing of a deleted or replaced version.
    for gone in sorted(written - live_texts)[:20]:
        first = gone.split("\n")[0]
        if any(first in t for t in live_texts):
            continue  # the same first sentence lives on in a stored version
        body = requests.get(f"{base}/v1/check", params={"claim": first}, timeout=30).json()
        for hit in body["evidence"]:
            assert hit["text"] in details[hit["article"]["id"]]["text"]

    server.stop()  # flush the request log: which worker answered which probe
    seen = [
        (str(r["pid"]), r["request_id"])
        for r in server.records()
        if str(r.get("request_id", "")).startswith("probe")
    ]
    assert {tag for _, tag in seen} == set(probes)
    assert {pid for pid, _ in seen} == server.worker_pids(), "both workers must answer probes"
