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
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.documents.files import Record, expand, read_records
from service.evaluation.baselines import BM25Baseline, DenseBaseline, Ranking, Statement

TOP = 10
FACTCHECK = "factcheck"
METRICS = ("hit@1", "hit@3", "mrr@10", "ndcg@10", "source_recall@10")
LABELS = {
    "hit@1": "hit@1",
    "hit@3": "hit@3",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
    "source_recall@10": "source recall@10",
}
GATE_METRIC = "ndcg@10"
# The dev sets of a folder laid out as ../shared (its eval/README.md): name -> (corpus,
# claims), relative to that folder.
DEV_SETS = {
    "seeds": ("seeds", "eval/seed-dev-claims.jsonl"),
    "climate-fever": ("eval/climate-fever/corpus.jsonl", "eval/climate-fever/dev-claims.jsonl"),
    "wice": ("eval/wice/corpus.jsonl", "eval/wice/dev-claims.jsonl"),
}

_QUOTES = str.maketrans("’‘“”", "''\"\"")


def fold(text: str) -> str:
    """Lower-case and fold curly quotes, as the datasets' README prescribes for matching."""
    return text.lower().translate(_QUOTES)


def key_matches(record_key: str, gold_key: str) -> bool:
    """A dataset key names an article exactly, or as the prefix of its file name."""
    return record_key == gold_key or record_key.startswith(gold_key + "_")


def load_claims(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def is_answerable(claim: dict[str, Any]) -> bool:
    return claim.get("stance") != "none" and bool(claim.get("gold"))


def is_unrelated(claim: dict[str, Any]) -> bool:
    """A `none` claim: nothing in the corpus speaks to it, so it must get no evidence."""
    return claim.get("stance") == "none"


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
        app = create_app({"store": f"sqlite:///{tmp}/eval.db"})
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


def relevance(claim: dict[str, Any], ranking: Ranking, keys: dict[str, str]) -> list[bool]:
    """Per rank: does the statement come from a gold article and contain its substring?"""
    return [
        any(
            key_matches(keys[article_id], gold_key) and fold(sub) in fold(text)
            for gold_key, sub in claim["gold"]
        )
        for article_id, text in ranking
    ]


def score(
    claims: Sequence[dict[str, Any]], rankings: Sequence[Ranking], keys: dict[str, str]
) -> dict[str, Any]:
    """hit@1, hit@3, MRR@10, nDCG@10 (binary relevance) and source recall@10 over the
    answerable claims; kept (answerable claims with at least one result) and rejected
    (``none`` claims with no result) as counts of their totals."""
    totals = dict.fromkeys(METRICS, 0.0)
    answerable = unrelated = kept = rejected = 0
    for claim, full in zip(claims, rankings, strict=True):
        if is_unrelated(claim):
            unrelated += 1
            rejected += not full
        if not is_answerable(claim):
            continue
        answerable += 1
        kept += bool(full)
        ranking = full[:TOP]
        relevant = relevance(claim, ranking, keys)
        first = next((i for i, r in enumerate(relevant) if r), None)
        totals["hit@1"] += first == 0
        totals["hit@3"] += first is not None and first < 3
        totals["mrr@10"] += 1 / (first + 1) if first is not None else 0
        dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant) if r)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(claim["gold"]), TOP)))
        totals["ndcg@10"] += dcg / ideal
        gold_keys = {k for k, _ in claim["gold"]}
        found = {g for g in gold_keys for a, _ in ranking if key_matches(keys[a], g)}
        totals["source_recall@10"] += len(found) / len(gold_keys)
    metrics = {k: round(v / answerable, 3) if answerable else 0.0 for k, v in totals.items()}
    return {
        "metrics": metrics,
        "kept": {"count": kept, "of": answerable},
        "rejected": {"count": rejected, "of": unrelated},
    }


def below_baselines(report: dict[str, Any], metric: str = GATE_METRIC) -> list[str]:
    """One message per baseline whose figure (as reported, 3 decimals) beats factcheck's."""
    systems = report["systems"]
    if len(systems) < 2:
        raise ValueError("the report has no baselines to compare with")
    ours = systems[FACTCHECK]["metrics"][metric]
    return [
        f"factcheck {LABELS[metric]} {ours:.3f} is below {name}'s {result['metrics'][metric]:.3f}"
        for name, result in systems.items()
        if name != FACTCHECK and ours < result["metrics"][metric]
    ]


def dev_sets(folder: Path, only: Sequence[str] | None = None) -> list[tuple[Path, Path]]:
    """(corpus, claims) of the dev sets present in a folder laid out as ../shared."""
    found = []
    for name, (corpus, claims) in DEV_SETS.items():
        if only and name not in only:
            continue
        if (folder / corpus).exists() and (folder / claims).exists():
            found.append((folder / corpus, folder / claims))
    return found


def below_shares(
    report: dict[str, Any], min_kept: float | None, min_rejected: float | None
) -> list[str]:
    """One message per decision share of factcheck's below its bar (None: not gated); a set
    without unanswerable (or answerable) claims has nothing to gate on that side."""
    ours = report["systems"][FACTCHECK]
    failures = []
    for label, part, bar in (("kept", "kept", min_kept), ("rejected", "rejected", min_rejected)):
        counts = ours[part]
        if bar is not None and counts["of"] and counts["count"] < bar * counts["of"]:
            failures.append(
                f"factcheck {label} {_count(counts)} on {report['claims_file']} is below {bar:.0%}"
            )
    return failures


def format_table(report: dict[str, Any]) -> str:
    """A header line, then one markdown table with a row per system."""
    header = (
        "| system | " + " | ".join(LABELS[m] for m in METRICS) + " | kept | rejected | ms/claim |"
    )
    rule = "|" + "---|" * (len(METRICS) + 4)
    rows = [
        f"| {name} | "
        + " | ".join(f"{result['metrics'][m]:.3f}" for m in METRICS)
        + f" | {_count(result['kept'])} | {_count(result['rejected'])}"
        + f" | {result['ms_per_claim']} |"
        for name, result in report["systems"].items()
    ]
    summary = (
        f"{report['corpus']}: {report['articles']} articles, {report['statements']} statements; "
        f"{report['claims_file']}: {report['claims']} claims, {report['answerable']} answerable, "
        f"{report['unrelated']} unrelated"
    )
    lines = [summary, "", header, rule, *rows]
    if report["index_statements"] != report["statements"]:
        lines += [
            "",
            f"note: the service's index holds {report['index_statements']} of the "
            f"{report['statements']} stored statements the baselines ranked",
        ]
    if report.get("refused_claims"):
        lines += [
            "",
            f"note: the API refused {report['refused_claims']} claim(s) as input (control "
            "characters, schemas/common.py); factcheck is scored as answering them with nothing",
        ]
    return "\n".join(lines)


def _count(part: dict[str, int]) -> str:
    return f"{part['count']}/{part['of']}"
