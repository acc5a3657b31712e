#!/usr/bin/env python3
"""Bounded load test on loopback: a mix of checks and ingests from many client threads against
real gunicorn, then proof that nothing was lost.

Starts `factcheck serve` on a free port over a fresh store (SQLite in a temp dir by default, or
--store redis://... with a unique key prefix), seeds it with the sample corpus, sends --requests
requests from --threads threads (stopping early at --max-seconds), then reads back every article
acknowledged with 201 and compares its text. Prints a JSON summary; exits 1 on any error (a
status other than the expected one, a timeout, a refused connection) or any lost article.

    python scripts/loadtest.py --requests 2000 --threads 8 --ingest-ratio 0.2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.auth import AUTH, AUTH_ENV  # noqa: E402
from tests.live import LiveServer  # noqa: E402

CLAIMS = [
    "The James Webb telescope launched on an Ariane 5 rocket",
    "The WHO declared smallpox eradicated in 1980",
    "The euro became cash in 2002",
    "Chernobyl exploded in 1986",
    "Nations agreed to phase out CFCs",
    "Add two eggs to the flour",
]
RIVERS = ["Danube", "Rhine", "Loire", "Elbe", "Tagus", "Po", "Oder", "Vistula", "Ebro"]


def new_article(n: int, run: str) -> dict[str, Any]:
    river = RIVERS[n % len(RIVERS)]
    return {
        "id": f"load-{run}-{n:05d}",
        "title": f"Load article {n}",
        "source": f"Load Desk {n % 5}",
        "published_at": f"20{10 + n % 15:02d}-0{1 + n % 9}-1{n % 10}",
        "text": (
            f"Rangers counted {n * 17 + 3} otters along the {river} in survey {n}.\n"
            f"The {river} survey team number {n % 97} reported {n % 41} new nesting sites."
        ),
    }


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: list[str] = []
        self.acked: dict[str, str] = {}  # id -> text of every 201

    def record(self, op: str, status: int, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies[op].append(seconds)
            self.statuses[op][status] += 1
            if error:
                self.errors.append(error)


def one_request(
    session: requests.Session, base: str, rng: random.Random, ratio: float, n: int, run: str
) -> tuple[str, requests.Response | None, str | None, dict[str, Any] | None]:
    if rng.random() < ratio:
        body = new_article(n, run)
        r = session.post(f"{base}/v1/articles", json=body, headers=AUTH, timeout=60)
        return "ingest", r, None if r.status_code == 201 else r.text[:200], body
    kind = rng.choice(["get", "post", "post", "batch"])
    claim = rng.choice(CLAIMS)
    if kind == "get":
        r = session.get(f"{base}/v1/check", params={"claim": claim, "top_k": 3}, timeout=60)
    elif kind == "post":
        payload = {"claim": claim, "top_k": rng.randint(1, 10)}
        r = session.post(f"{base}/v1/check", json=payload, timeout=60)
    else:
        claims = rng.sample(CLAIMS, 3)
        r = session.post(f"{base}/v1/check/batch", json={"claims": claims}, timeout=60)
    return f"check-{kind}", r, None if r.status_code == 200 else r.text[:200], None


def run_load(base: str, total: int, threads: int, ratio: float, max_s: float) -> Stats:
    stats = Stats()
    counter = iter(range(total))
    counter_lock = threading.Lock()
    deadline = time.monotonic() + max_s
    run = uuid.uuid4().hex[:6]

    def worker(t: int) -> None:
        rng = random.Random(t)
        session = requests.Session()
        while time.monotonic() < deadline:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                return
            started = time.monotonic()
            try:
                op, r, error, body = one_request(session, base, rng, ratio, n, run)
            except requests.RequestException as exc:
                stats.record("transport", 0, time.monotonic() - started, repr(exc))
                continue
            assert r is not None
            stats.record(op, r.status_code, time.monotonic() - started, error and f"{op}: {error}")
            if body is not None and r.status_code == 201:
                with stats.lock:
                    stats.acked[body["id"]] = body["text"]

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return stats


def lost_articles(base: str, acked: dict[str, str]) -> list[str]:
    lost = []
    session = requests.Session()
    for article_id, text in acked.items():
        r = session.get(f"{base}/v1/articles/{article_id}", timeout=60)
        if r.status_code != 200 or r.json()["text"] != text:
            lost.append(article_id)
    return lost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(stats: Stats, elapsed: float, lost: list[str], args: argparse.Namespace) -> dict:
    count = sum(len(v) for v in stats.latencies.values())
    ops = {
        op: {
            "requests": len(v),
            "statuses": dict(stats.statuses[op]),
            "p50_ms": round(statistics.median(v) * 1000, 1),
            "p95_ms": round(percentile(v, 0.95) * 1000, 1),
            "p99_ms": round(percentile(v, 0.99) * 1000, 1),
            "max_ms": round(max(v) * 1000, 1),
        }
        for op, v in sorted(stats.latencies.items())
    }
    return {
        "store": args.store_kind,
        "workers": args.workers,
        "threads": args.threads,
        "requests": count,
        "seconds": round(elapsed, 2),
        "rps": round(count / elapsed, 1),
        "errors": len(stats.errors),
        "first_errors": stats.errors[:5],
        "acknowledged_articles": len(stats.acked),
        "lost_articles": len(lost),
        "ops": ops,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ingest-ratio", type=float, default=0.2)
    parser.add_argument("--max-seconds", type=float, default=240)
    parser.add_argument("--store", default=None, help="redis://... (default: SQLite in a tmpdir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{tmp}/load.db"
        args.store_kind = store.split(":", 1)[0]
        prefix = f"fcload-{uuid.uuid4().hex[:8]}"
        # Limits off: this run counts errors and lost articles, and a 429 is neither.
        env = {
            "FACTCHECK_STORE": store,
            "FACTCHECK_REDIS_PREFIX": prefix,
            "FACTCHECK_RATE_LIMIT_READS": "off",
            "FACTCHECK_RATE_LIMIT_WRITES": "off",
            **AUTH_ENV,
        }
        with LiveServer(env, workers=args.workers) as live:
            for line in (ROOT / "examples" / "sample-corpus.jsonl").read_text().splitlines():
                r = requests.post(
                    f"{live.url}/v1/articles", json=json.loads(line), headers=AUTH, timeout=60
                )
                r.raise_for_status()
            started = time.monotonic()
            stats = run_load(
                live.url, args.requests, args.threads, args.ingest_ratio, args.max_seconds
            )
            elapsed = time.monotonic() - started
            lost = lost_articles(live.url, stats.acked)
        if args.store and args.store.startswith("redis"):
            import redis

            client = redis.Redis.from_url(args.store)
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)  # our own keys only, never a flush
    result = summary(stats, elapsed, lost, args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 1 if result["errors"] or result["lost_articles"] else 0


if __name__ == "__main__":
    sys.exit(main())
