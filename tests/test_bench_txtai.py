"""The benchmark's txtai peer (bench/txtai_peer.py) on a tiny corpus: both index kinds find a
statement by its own text in process and over txtai's HTTP API, the pooled closed loop runs
without errors, and the peer rows reach the report. txtai is in the ``bench`` extra only, so
these tests skip where it is not installed (CI installs the ``dev`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("txtai", reason="txtai is in the bench extra only (pip install '.[bench]')")
pytest.importorskip("uvicorn", reason="txtai's API needs uvicorn (the bench extra)")

from bench import load, report, txtai_peer
from bench.corpus import articles, claims

pytestmark = pytest.mark.slow  # starts uvicorn servers

TEXTS = [line for a in articles(120, seed=3) for line in str(a.fields["text"]).split("\n")]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    # The model's own vectors, as the bench's pool holds them (normalised).
    return txtai_peer.transform(TEXTS)


@pytest.mark.parametrize("kind", txtai_peer.KINDS)
def test_index_finds_a_statement_by_its_text(kind: str, vectors: np.ndarray) -> None:
    embeddings, index_s = txtai_peer.build(kind, TEXTS, vectors)
    assert index_s > 0
    for target in TEXTS[::50]:
        assert embeddings.search(target, 1)[0]["text"] == target
    embeddings.close()


def test_pooled_loop_reconnects_and_counts() -> None:
    """closed_loop against a server that closes every connection after one answer."""
    import http.server
    import threading

    class Once(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Once)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        outcome = load.closed_loop(url, claims(10), 2, 0.3, txtai_peer.get_search)
    finally:
        server.shutdown()
    assert outcome.errors == 0, outcome.error_samples
    assert len(outcome.latencies_ms) > 2


def test_run_reaches_the_report(vectors: np.ndarray) -> None:
    peers = txtai_peer.run(TEXTS, vectors, claims(20), 10, [1], 0.3, workers=1)
    assert set(peers) == set(txtai_peer.KINDS)
    for result in peers.values():
        assert result["in_process"]["claims"] == 10
        assert result["http"]["probe_found"]  # the served index is the one built
        assert result["http"]["load"][0]["errors"] == 0
    results: dict[str, Any] = {
        "machine": {
            "cpus": 2,
            "cpu_model": "test",
            "mem_gib": 1,
            "load_before": "0",
            "load_after": "0",
            "commit": "test",
        },
        "label": "",
        "runs": [
            {
                "statements": len(TEXTS),
                "ready_s": 1.0,
                "all_ready_s": 1.0,
                "memory_after": {"workers_rss_mb": 1, "workers_pss_mb": 1, "total_pss_mb": 1},
                "load": [
                    {
                        "concurrency": 1,
                        "p50_ms": 5.0,
                        "p95_ms": 6,
                        "p99_ms": 7,
                        "rps": 1,
                        "errors": 0,
                    }
                ],
                "baselines": {},
                "txtai": peers,
            }
        ],
    }
    table = report.markdown(results)
    http_p50 = peers["hybrid"]["http"]["load"][0]["p50_ms"]
    assert f"| txtai hybrid | HTTP (uvicorn, 1 workers) | 1 | {http_p50} |" in table
    assert "| bare ST |" not in table  # no baseline was measured here


def test_ingest_rates_are_measured() -> None:
    rates = txtai_peer.ingest(TEXTS[:80])
    assert rates["statements"] == 80
    assert all(rates[k] > 0 for k in ("bare_encode", "txtai_dense", "txtai_hybrid"))
