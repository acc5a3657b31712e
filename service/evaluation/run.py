"""Retrieval quality of the real service on a corpus and a claims file, beside two baselines.

The corpus is ingested through the HTTP API (the app's test client on a temporary SQLite
store) and every claim is checked through ``POST /v1/check``, so the figures are the
service's own. In the same run, the statements the service stored are read back from its store
and ranked by two baselines (``service.evaluation.baselines``: bm25s, and bare sentence-transformers
``util.semantic_search`` with the service's model), and all three systems' answers are scored
by one function. Claims are JSON Lines: ``{"claim", "stance", "gold": [[corpus_key,
substring]]}``; matching follows ``../shared/eval/README.md``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.documents.files import Record, expand, read_records
from service.evaluation.baselines import BM25Baseline, DenseBaseline, Ranking, Statement
from service.evaluation.report import (
    FACTCHECK,
    GATE_METRIC,
    LABELS,
    below_baselines,
    below_shares,
    format_table,
)
from service.evaluation.scoring import (
    METRICS,
    TOP,
    fold,
    is_answerable,
    is_unrelated,
    key_matches,
    relevance,
    score,
)

# What factcheck eval, the bench and the fitting script import from here; the scoring and the
# report live in service.evaluation.scoring and service.evaluation.report.
__all__ = [
    "DEV_SETS",
    "FACTCHECK",
    "GATE_METRIC",
    "LABELS",
    "METRICS",
    "TOP",
    "below_baselines",
    "below_shares",
    "dev_sets",
    "evaluate",
    "fold",
    "format_table",
    "indexed_statements",
    "is_answerable",
    "is_unrelated",
    "key_matches",
    "load_claims",
    "ranking_of",
    "relevance",
    "score",
]

# The dev sets of a folder laid out as ../shared (its eval/README.md): name -> (corpus,
# claims), relative to that folder.
DEV_SETS = {
    "seeds": ("seeds", "eval/seed-dev-claims.jsonl"),
    "climate-fever": ("eval/climate-fever/corpus.jsonl", "eval/climate-fever/dev-claims.jsonl"),
    "wice": ("eval/wice/corpus.jsonl", "eval/wice/dev-claims.jsonl"),
}


def load_claims(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def ranking_of(answer: dict[str, Any]) -> Ranking:
    """A /v1/check answer as (article id, statement text) pairs, best first."""
    return [(e["article"]["id"], e["text"]) for e in answer["evidence"]]


def evaluate(corpus: Path, claims_path: Path, baselines: bool = True) -> dict[str, Any]:
    """Ingest the corpus into a fresh store, measure the service on every claim and, with
    ``baselines``, the two baselines over the same statements.

    The report has one entry per system under ``systems`` (``factcheck``, ``bm25s``,
    ``sentence-transformers``); ``metrics`` and ``ms_per_claim`` at the top level repeat
    factcheck's.
    """
    records: list[Record] = [r for p in expand([corpus]) for r in read_records(p)]
    claims = load_claims(claims_path)
    # One request log line per ingested article and checked claim would bury the table.
    access_log = logging.getLogger("factcheck.access")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    try:
        return _evaluate(records, claims, corpus, claims_path, baselines)
    finally:
        access_log.setLevel(level)


def _evaluate(
    records: list[Record],
    claims: list[dict[str, Any]],
    corpus: Path,
    claims_path: Path,
    baselines: bool,
) -> dict[str, Any]:
    from service import create_app

    systems: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="factcheck-eval-") as tmp:
        # The run is the app's only client and measures retrieval, not the limiter: a short
        # corpus (Climate-FEVER's) goes in faster than the default 50 writes a second.
        app = create_app(
            {
                "store": f"sqlite:///{tmp}/eval.db",
                "rate_limit_reads": "off",
                "rate_limit_writes": "off",
            }
        )
        services = app.extensions["factcheck"]
        client = app.test_client()
        keys: dict[str, str] = {}  # article id -> dataset key
        started = time.perf_counter()
        for number, record in enumerate(records):
            fields = {**record.fields, "id": f"doc{number}"}
            response = client.post("/v1/articles", json=fields)
            if response.status_code not in (200, 201):
                raise ValueError(f"{record.origin}: ingest failed: {response.get_json()}")
            keys[fields["id"]] = record.key or fields["id"]
        index_s = time.perf_counter() - started
        index_stats: dict[str, Any] = {}  # the index size /v1/check reports
        refused: list[str] = []  # claims the API's input rule refuses (schemas/common.py)

        def check(claim: str) -> Ranking:
            response = client.post("/v1/check", json={"claim": claim, "top_k": TOP})
            answer = response.get_json()
            if response.status_code == 422 and "claim" in answer.get("errors", {}):
                # A caller gets no passages for it: scored as an empty answer, and counted.
                refused.append(claim)
                return []
            if response.status_code != 200:
                raise ValueError(f"check failed ({response.status_code}): {answer}")
            index_stats.update(answer.get("index", {}))
            return ranking_of(answer)

        systems[FACTCHECK] = _run(check, claims, keys, index_s)
        statements = indexed_statements(services.store)
        if baselines:
            started = time.perf_counter()
            bm25 = BM25Baseline(statements)
            systems[bm25.name] = _run(bm25.search, claims, keys, time.perf_counter() - started)
            started = time.perf_counter()
            # The very model object the service loaded (same weights), used bare.
            dense = DenseBaseline(statements, services.embedder._model)
            systems[dense.name] = _run(dense.search, claims, keys, time.perf_counter() - started)
        services.store.close()
    return {
        "corpus": str(corpus),
        "claims_file": str(claims_path),
        "articles": len(records),
        "statements": len(statements),
        # What /v1/check says its index holds: equal to `statements` unless the service
        # indexes fewer statements than it stores (then the baselines rank more than it).
        "index_statements": index_stats.get("statements", len(statements)),
        "claims": len(claims),
        "refused_claims": len(refused),
        "answerable": sum(map(is_answerable, claims)),
        "unrelated": sum(map(is_unrelated, claims)),
        "systems": systems,
        "metrics": systems[FACTCHECK]["metrics"],
        "ms_per_claim": systems[FACTCHECK]["ms_per_claim"],
    }


def indexed_statements(store: Any, page: int = 500) -> list[Statement]:
    """Every stored statement as (article id, text), in article id then position order."""
    statements: list[Statement] = []
    after: str | None = None
    while True:
        articles = store.list_articles(page, after)
        if not articles:
            return statements
        for article in articles:
            statements.extend((article.id, s.text) for s in store.get_statements(article.id))
        after = articles[-1].id


def _run(
    search: Callable[[str], Ranking],
    claims: list[dict[str, Any]],
    keys: dict[str, str],
    index_s: float,
) -> dict[str, Any]:
    """Answer every claim one at a time (as a client would) and score the answers."""
    started = time.perf_counter()
    rankings = [search(c["claim"]) for c in claims]
    elapsed = time.perf_counter() - started
    result = score(claims, rankings, keys)
    result["ms_per_claim"] = round(1000 * elapsed / max(len(claims), 1), 1)
    result["index_s"] = round(index_s, 1)
    return result


def dev_sets(folder: Path, only: Sequence[str] | None = None) -> list[tuple[Path, Path]]:
    """(corpus, claims) of the dev sets present in a folder laid out as ../shared."""
    found = []
    for name, (corpus, claims) in DEV_SETS.items():
        if only and name not in only:
            continue
        if (folder / corpus).exists() and (folder / claims).exists():
            found.append((folder / corpus, folder / claims))
    return found
