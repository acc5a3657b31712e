"""Prometheus metrics at `/metrics`: requests and latency per route and status, check
latency by stage, index size and model load time.

Under gunicorn every worker is its own process, so the counters live in files under
PROMETHEUS_MULTIPROC_DIR (set to a fresh directory by service/serving/gunicorn_conf.py before any
worker starts) and a scrape, whichever worker answers it, sums all of them. prometheus_client
picks its storage when first imported, so this module is imported only by create_app, in the
worker, never by the gunicorn master before the directory is set.
"""

from __future__ import annotations

import contextlib
import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.core.search import CheckResult

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Read once, as prometheus_client did when imported just above: the mode its values were
# made in decides where a scrape reads them, whatever the environment says later.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))
bp = Blueprint("metrics", __name__)

REQUESTS = Counter(
    "factcheck_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "factcheck_http_request_duration_seconds",
    "Time from the request reaching the app to its answer, by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHECK_STAGE = Histogram(
    "factcheck_check_stage_seconds",
    "Time one claim spends in each stage of a check: sync (catch up with the store), "
    "embed (the claim's vector), search (dense and lexical candidates and their features), "
    "rank (the evidence model and decision, corroboration, sources), resolve (passages "
    "read from the store).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
# One value per live worker; the most recent is what the index holds now.
INDEX_ARTICLES = Gauge(
    "factcheck_index_articles", "Articles in the index.", multiprocess_mode="livemostrecent"
)
INDEX_STATEMENTS = Gauge(
    "factcheck_index_statements", "Statements in the index.", multiprocess_mode="livemostrecent"
)
MODEL_LOAD = Gauge(
    "factcheck_model_load_seconds",
    "Time a worker took to load the sentence-transformers model (the slowest live worker's).",
    multiprocess_mode="livemax",
)
# Every label takes values from a fixed set, so that no client can grow the scrape: a made-up
# method token is "other", an unrouted path "unmatched", a status outside HTTP's range "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# CheckResult.timings_ms keys (service/core/search.py), each a stage label of its own.
STAGES = {name: name for name in ("sync", "embed", "search", "rank", "resolve")}


def observe_check(results: list[CheckResult]) -> None:
    """Record one check's stage timings and the index size it saw."""
    for result in results:
        for key, stage in STAGES.items():
            if key in result.timings_ms:
                CHECK_STAGE.labels(stage).observe(result.timings_ms[key] / 1000)
    if results:
        INDEX_ARTICLES.set(results[-1].index.articles)
        INDEX_STATEMENTS.set(results[-1].index.statements)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    # The app answers only codes it chose, but a bound here costs nothing.
    return str(status) if 100 <= status <= 599 else "other"


_model_load_s = 0.0


def model_loaded(seconds: float) -> None:
    """Record a model load; a later app in the same process reuses the model, so the first
    (longest) load is the one that stands."""
    global _model_load_s
    _model_load_s = max(_model_load_s, seconds)
    MODEL_LOAD.set(_model_load_s)


def init_metrics(app: Flask) -> None:
    """Count and time every request, refusals and errors included."""

    @app.after_request
    def _count(response: Response) -> Response:
        # The route template, not the path: /v1/articles/<article_id> is one series, not one
        # per article. Unrouted requests (404) share one label.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        labels = (route, method_label(request.method), status_label(response.status_code))
        REQUESTS.labels(*labels).inc()
        # g.started is set by the very first before_request hook (service/api/headers.py), so
        # a request refused by auth or a rate limit is timed too.
        started = g.get("started", time.perf_counter())
        LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    """Every worker's metrics in the Prometheus text format."""
    from service.api.common import services
    from service.store.base import StoreUnavailable

    index = services().index
    # What the store holds now, not what this worker last saw; during an outage metrics must
    # still scrape, with what the index holds.
    with contextlib.suppress(StoreUnavailable):
        index.sync()
    stats = index.stats()
    INDEX_ARTICLES.set(stats.articles)
    INDEX_STATEMENTS.set(stats.statements)
    registry = REGISTRY
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
