"""A bounded, closed-loop load generator: ``concurrency`` threads, each sending one request at
a time for ``duration`` seconds (so at most ``concurrency`` requests are ever in flight).

Each thread keeps one connection open (a pooled client, as a caller's HTTP library keeps
them): the service's workers keep connections alive, and so does txtai's uvicorn. A thread
reconnects when a server closes its connection. Any answer but a 2xx is an error (`errors`,
with samples), never in `requests`, `rps` or the latencies. Threads and http.client keep the
client to a few hundred microseconds per request; it runs on the same two cores as the
server, and that cost is inside the figures.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = np.array(self.latencies_ms or [np.nan])
        return {
            "concurrency": self.concurrency,
            "requests": len(self.latencies_ms),
            "errors": self.errors,
            "rps": round(len(self.latencies_ms) / self.duration_s, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "error_samples": self.error_samples[:3],
        }


def post_json(url: str, path: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


Send = Callable[[http.client.HTTPConnection, str, int], tuple[int, bytes]]


def post_check(conn: http.client.HTTPConnection, claim: str, top_k: int) -> tuple[int, bytes]:
    body = json.dumps({"claim": claim, "top_k": top_k})
    conn.request("POST", "/v1/check", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def run(
    url: str, claims: Sequence[str], concurrency: int, duration_s: float, top_k: int = 5
) -> LoadResult:
    """POST /v1/check with the claims in order (each claim once until all are used)."""
    return closed_loop(url, claims, concurrency, duration_s, post_check, top_k)


def closed_loop(
    url: str,
    claims: Sequence[str],
    concurrency: int,
    duration_s: float,
    send: Send,
    top_k: int = 5,
) -> LoadResult:
    """``send(conn, claim, top_k)`` per claim in order, one pooled connection per thread."""
    result = LoadResult(concurrency, duration_s)
    counter = itertools.count()
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration_s
    parts = urlsplit(url)

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while time.perf_counter() < stop_at:
            claim = claims[next(counter) % len(claims)]
            began = time.perf_counter()
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                try:
                    status, body = send(conn, claim, top_k)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # A kept-alive connection the server had closed: retry once on a new
                    # one, as pooled clients do (the retry's time counts).
                    conn.close()
                    status, body = send(conn, claim, top_k)
                # Only a 2xx is throughput: a 429 or 5xx answers fast and would flatter req/s.
                error = None if 200 <= status < 300 else f"{status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                error = repr(exc)
                conn.close()
                conn = None
            took = (time.perf_counter() - began) * 1000
            with lock:
                if error is None:
                    result.latencies_ms.append(took)
                else:
                    result.errors += 1
                    result.error_samples.append(error)
        if conn is not None:
            conn.close()

    result.duration_s = run_threads(worker, concurrency)
    return result


def run_threads(worker: Callable[[], None], count: int) -> float:
    """Run ``count`` threads of ``worker`` to the end; the seconds they took together."""
    threads = [threading.Thread(target=worker) for _ in range(count)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started
