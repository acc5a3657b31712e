"""/metrics under a real gunicorn with two workers: a scrape, whichever worker answers it,
sums the requests every worker served; check stages, index size and model load time are
there; a worker that dies keeps its counts but leaves the live gauges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.live import READY_LINE, LiveServer

pytestmark = pytest.mark.slow
HEALTHZ = (("method", "GET"), ("route", "/healthz"), ("status", "200"))


def scrape(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by name and sorted labels (parsing fails on a
    malformed exposition)."""
    response = requests.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def next_line(server: LiveServer, wanted: Any) -> str:
    """Block until the server logs a line that `wanted` accepts (lines already read count)."""
    while True:
        line = server._queue.get(timeout=120)
        assert line is not None, "the server exited:\n" + server.log()
        if wanted(line):
            return line


def served_by(server: LiveServer, request_id: str) -> int:
    """The pid of the worker that answered a request, from its access log line."""
    line = next_line(server, lambda text: f'"request_id": "{request_id}"' in text)
    return int(json.loads(line)["pid"])


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def server(metrics_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    store = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'x.db'}"
    env = {"FACTCHECK_STORE": store, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with LiveServer(env, workers=2) as live:
        yield live


def test_a_scrape_sums_the_requests_of_every_worker(server: LiveServer) -> None:
    pids: list[int] = []
    # A new connection per request, so the kernel hands them to either worker; go on until
    # both have answered some (the count is what it is; the sum must match it exactly).
    while len(set(pids)) < 2:
        assert len(pids) < 500, "one worker answered everything"
        request_id = f"metrics-{len(pids)}"
        answer = requests.get(
            f"{server.url}/healthz", headers={"X-Request-ID": request_id}, timeout=30
        )
        assert answer.status_code == 200
        pids.append(served_by(server, request_id))
    samples = scrape(server)
    assert samples[("factcheck_http_requests_total", HEALTHZ)] == len(pids)
    assert samples[("factcheck_http_request_duration_seconds_count", HEALTHZ)] == len(pids)
    assert set(pids) <= {int(p) for p in server.worker_pids()}


def test_a_dead_worker_keeps_its_counts_and_leaves_the_live_gauges(
    server: LiveServer, metrics_dir: Path
) -> None:
    before = scrape(server)[("factcheck_http_requests_total", HEALTHZ)]
    victim = int(sorted(server.worker_pids())[0])
    assert (metrics_dir / f"gauge_livemax_{victim}.db").exists()
    os.kill(victim, signal.SIGKILL)
    next_line(server, lambda text: READY_LINE in text and f"pid={victim}" not in text)
    # gunicorn's child_exit hook marked it dead: its live gauge files are gone...
    assert not (metrics_dir / f"gauge_livemax_{victim}.db").exists()
    assert not (metrics_dir / f"gauge_livemostrecent_{victim}.db").exists()
    # ...and what it counted still counts.
    assert scrape(server)[("factcheck_http_requests_total", HEALTHZ)] == before + 0


def test_check_stages_index_size_and_model_load_are_reported(sample_live: LiveServer) -> None:
    """On the shared sample server, which `factcheck serve` gave a fresh metrics directory."""
    answer = requests.post(
        f"{sample_live.url}/v1/check", json={"claim": "The euro became cash in 2002"}, timeout=60
    ).json()
    samples = scrape(sample_live)
    for stage in ("sync", "embed", "search", "rank", "resolve"):
        assert samples[("factcheck_check_stage_seconds_count", (("stage", stage),))] >= 1
    # Every live worker reports what its index holds; each has synced to the same store.
    assert samples[("factcheck_index_articles", ())] >= 1
    statements = samples[("factcheck_index_statements", ())]
    assert statements == answer["index"]["statements"]
    assert samples[("factcheck_model_load_seconds", ())] > 0


def test_serve_gives_each_server_a_fresh_metrics_directory_and_removes_it() -> None:
    """gunicorn's config, loaded as `factcheck serve` loads it, without the variable set."""
    program = (
        "import os, service.serving.gunicorn_conf as conf;"
        "d = os.environ['PROMETHEUS_MULTIPROC_DIR'];"
        "print(d, os.listdir(d)); conf.on_exit(None); print(os.path.exists(d))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    created, removed = result.stdout.splitlines()
    assert created.endswith(" []") and "factcheck-metrics-" in created
    assert removed == "False"
