"""How an evaluation scores a system's answers: gold matching as ``../shared/eval/README.md``
prescribes, and hit@k, MRR, nDCG and source recall over the answerable claims (one function
for the service and both baselines)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from service.evaluation.baselines import Ranking

TOP = 10
METRICS = ("hit@1", "hit@3", "mrr@10", "ndcg@10", "source_recall@10")

_QUOTES = str.maketrans("’‘“”", "''\"\"")


def fold(text: str) -> str:
    """Lower-case and fold curly quotes, as the datasets' README prescribes for matching."""
    return text.lower().translate(_QUOTES)


def key_matches(record_key: str, gold_key: str) -> bool:
    """A dataset key names an article exactly, or as the prefix of its file name."""
    return record_key == gold_key or record_key.startswith(gold_key + "_")


def is_answerable(claim: dict[str, Any]) -> bool:
    return claim.get("stance") != "none" and bool(claim.get("gold"))


def is_unrelated(claim: dict[str, Any]) -> bool:
    """A `none` claim: nothing in the corpus speaks to it, so it must get no evidence."""
    return claim.get("stance") == "none"


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
