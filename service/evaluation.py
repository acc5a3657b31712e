"""Retrieval quality of the real service on a corpus and a claims file.

The corpus is ingested through the HTTP API (the app's test client on a temporary SQLite
store) and every claim is checked through ``POST /v1/check``, so the figures are the
service's own. Claims are JSON Lines: ``{"claim", "stance", "gold": [[corpus_key, substring]]}``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from service.documents import Record, expand, read_records

TOP = 10


_QUOTES = str.maketrans("’‘“”", "''\"\"")


def fold(text: str) -> str:
    """Lower-case and fold curly quotes, as the datasets' README prescribes for matching."""
    return text.lower().translate(_QUOTES)


def key_matches(record_key: str, gold_key: str) -> bool:
    """A dataset key names an article exactly, or as the prefix of its file name."""
    return record_key == gold_key or record_key.startswith(gold_key + "_")


def load_claims(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def evaluate(corpus: Path, claims_path: Path) -> dict[str, Any]:
    """Ingest the corpus into a fresh store and measure the service on every claim."""
    from service import create_app

    records: list[Record] = [r for p in expand([corpus]) for r in read_records(p)]
    claims = load_claims(claims_path)
    with tempfile.TemporaryDirectory(prefix="factcheck-eval-") as tmp:
        app = create_app({"store": f"sqlite:///{tmp}/eval.db"})
        client = app.test_client()
        keys: dict[str, str] = {}  # article id -> dataset key
        for number, record in enumerate(records):
            fields = {**record.fields, "id": f"doc{number}"}
            response = client.post("/v1/articles", json=fields)
            if response.status_code not in (200, 201):
                raise ValueError(f"{record.origin}: ingest failed: {response.get_json()}")
            keys[fields["id"]] = record.key or fields["id"]
        started = time.perf_counter()
        answers = [
            client.post("/v1/check", json={"claim": c["claim"], "top_k": TOP}).get_json()
            for c in claims
        ]
        elapsed = time.perf_counter() - started
    report = score(claims, answers, keys)
    report.update(
        corpus=str(corpus),
        claims_file=str(claims_path),
        articles=len(records),
        statements=answers[0]["index"]["statements"] if answers else 0,
        ms_per_claim=round(1000 * elapsed / max(len(claims), 1), 1),
    )
    return report


def _relevance(
    claim: dict[str, Any], evidence: list[dict[str, Any]], keys: dict[str, str]
) -> list[bool]:
    return [
        any(
            key_matches(keys[e["article"]["id"]], gold_key) and fold(sub) in fold(e["text"])
            for gold_key, sub in claim["gold"]
        )
        for e in evidence
    ]


def score(
    claims: list[dict[str, Any]], answers: list[dict[str, Any]], keys: dict[str, str]
) -> dict[str, Any]:
    """hit@1, hit@3, MRR@10, nDCG@10 (binary relevance) and source recall@10."""
    totals = {"hit@1": 0.0, "hit@3": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0, "source_recall@10": 0.0}
    answerable = 0
    for claim, answer in zip(claims, answers, strict=True):
        if claim.get("stance") == "none" or not claim.get("gold"):
            continue
        answerable += 1
        evidence = answer["evidence"][:TOP]
        relevant = _relevance(claim, evidence, keys)
        first = next((i for i, r in enumerate(relevant) if r), None)
        totals["hit@1"] += first == 0
        totals["hit@3"] += first is not None and first < 3
        totals["mrr@10"] += 1 / (first + 1) if first is not None else 0
        dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant) if r)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(claim["gold"]), TOP)))
        totals["ndcg@10"] += dcg / ideal
        gold_keys = {k for k, _ in claim["gold"]}
        found = {g for g in gold_keys for e in evidence if key_matches(keys[e["article"]["id"]], g)}
        totals["source_recall@10"] += len(found) / len(gold_keys)
    metrics = {k: round(v / answerable, 3) if answerable else 0.0 for k, v in totals.items()}
    return {"claims": len(claims), "answerable": answerable, "metrics": metrics}


def format_table(report: dict[str, Any]) -> str:
    names = list(report["metrics"])
    header = "| system | " + " | ".join(names) + " | ms/claim |"
    rule = "|" + "---|" * (len(names) + 2)
    row = (
        "| factcheck | "
        + " | ".join(f"{report['metrics'][n]:.3f}" for n in names)
        + f" | {report['ms_per_claim']} |"
    )
    return "\n".join(
        [
            f"{report['corpus']}: {report['articles']} articles, "
            f"{report['statements']} statements; {report['claims_file']}: "
            f"{report['claims']} claims, {report['answerable']} answerable",
            "",
            header,
            rule,
            row,
        ]
    )
