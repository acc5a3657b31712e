"""Ingest throughput through the API, and how soon a write is visible to every worker.

Ingest: a fresh, empty store; ``clients`` threads POST bench articles (one sentence per line)
to /v1/articles; statements/s = statements stored / wall time, embedding included.

Visibility: while a check load runs, POST one article with a sentence found nowhere else, then
check it repeatedly (each request lands on some worker). Recorded: the time from the POST's
answer until a check finds it (that check's own queueing behind the load included), and how
many of the next ``2 * workers`` checks missed it (any miss would mean a stale worker).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from bench.corpus import articles
from bench.load import post_json, run_threads


def ingest(url: str, statements: int, clients: int = 2, seed: int = 11) -> dict[str, Any]:
    fields = [bench.fields for bench in articles(statements, per_article=10, seed=seed)]
    return post_articles(lambda f: post_json(url, "/v1/articles", f, timeout=120), fields, clients)


def post_articles(
    post: Callable[[dict[str, Any]], tuple[int, bytes]],
    records: Iterable[dict[str, Any]],
    clients: int,
) -> dict[str, Any]:
    """POST every record to /v1/articles through `post` from `clients` threads, each taking
    the next record; statements stored per second of wall time, and the errors."""
    pending = iter(records)
    lock = threading.Lock()
    stored, errors = [0], [0]

    def worker() -> None:
        while True:
            with lock:
                fields = next(pending, None)
            if fields is None:
                return
            status, body = post(fields)
            with lock:
                if status in (200, 201):
                    stored[0] += int(json.loads(body)["statements"])
                else:
                    errors[0] += 1

    took = run_threads(worker, clients)
    return {
        "statements": stored[0],
        "errors": errors[0],
        "seconds": round(took, 2),
        "clients": clients,
        "statements_per_s": round(stored[0] / took, 1),
    }


def visibility(url: str, workers: int, attempts: int = 5) -> dict[str, Any]:
    """Seconds from a POST's answer until a check finds the article, and how many of the
    next ``2 * workers`` checks (landing on any worker) then missed it."""
    worst, misses, never = 0.0, 0, 0
    for n in range(attempts):
        marker = uuid.uuid4().hex[:10]
        article_id = f"bench-visible-{marker}"
        sentence = f"The Zorblat {marker} observatory recorded {n + 3} violet auroras."
        post_json(
            url,
            "/v1/articles",
            {
                "id": article_id,
                "title": "Visibility probe",
                "source": "Bench Desk",
                "text": sentence,
            },
        )
        posted = time.perf_counter()
        seen_after: float | None = None
        for _ in itertools.repeat(None, 2 * workers + 50):
            _, body = post_json(url, "/v1/check", {"claim": sentence, "top_k": 1})
            hit = article_id in [e["article"]["id"] for e in json.loads(body)["evidence"]]
            if seen_after is None and hit:
                seen_after = time.perf_counter() - posted
                checked = 0
            elif seen_after is not None:
                misses += not hit
                checked += 1
                if checked >= 2 * workers:
                    break
        never += seen_after is None
        worst = max(worst, seen_after or float("inf"))
        _delete(url, article_id)
    return {
        "attempts": attempts,
        "worst_s": round(worst, 3),
        "never_found": never,
        "missed_after_found": misses,
    }


def _delete(url: str, article_id: str) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("DELETE", f"/v1/articles/{article_id}")
    conn.getresponse().read()
    conn.close()
