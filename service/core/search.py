"""Claim -> ranked evidence: dense and lexical candidates, fused, resolved to their sources."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from service.core.embed import Embedder
from service.core.index import IndexStats, Key, StatementIndex, SyncedIndex
from service.store.base import Hit, Store

# Candidates taken from each retriever before fusion; enough that a statement ranked well by
# only one of them still reaches the fused list.
CANDIDATES = 50
# Weight of the (per-claim max-normalised) BM25 score against cosine similarity.
LEXICAL_WEIGHT = 0.3


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float


@dataclass(frozen=True)
class Evidence:
    hit: Hit
    scores: Scores

    @property
    def score(self) -> float:
        return self.scores.fused

    @property
    def statement_id(self) -> str:
        return f"{self.hit.article.id}:{self.hit.statement.position}"


@dataclass
class CheckResult:
    claim: str
    evidence: list[Evidence]
    index: IndexStats
    model: str
    took_ms: float
    timings_ms: dict[str, float] = field(default_factory=dict)


def rank(
    index: StatementIndex,
    claim: str,
    query: np.ndarray,
    top_k: int,
    lexical_weight: float = LEXICAL_WEIGHT,
) -> list[tuple[Key, Scores]]:
    """Fuse cosine similarity with normalised BM25 over the union of both candidate lists."""
    candidates = index.candidates(query, claim, max(CANDIDATES, top_k))
    top_lexical = max((bm25 for _, _, bm25 in candidates), default=0.0)
    fused = []
    for key, cosine, bm25 in candidates:
        lex = bm25 / top_lexical if top_lexical > 0 else 0.0
        score = (1 - lexical_weight) * cosine + lexical_weight * lex
        fused.append((key, Scores(dense=cosine, lexical=bm25, fused=score)))
    fused.sort(key=lambda item: (-item[1].fused, item[0]))
    return fused[:top_k]


def check_claim(
    claim: str, top_k: int, store: Store, embedder: Embedder, index: SyncedIndex
) -> CheckResult:
    """Find the statements that best support a claim, best first, with their articles."""
    started = time.perf_counter()
    index.sync()
    synced = time.perf_counter()
    query = embedder.encode_one(claim)
    embedded = time.perf_counter()
    # A few extra rows: a statement deleted since the search may no longer resolve.
    ranked = rank(index, claim, query, top_k + 5)
    searched = time.perf_counter()
    hits = store.resolve([key for key, _ in ranked])
    evidence = [
        Evidence(hit=hit, scores=_rounded(scores))
        for hit, (_, scores) in zip(hits, ranked, strict=True)
        if hit is not None
    ][:top_k]
    done = time.perf_counter()
    return CheckResult(
        claim=claim,
        evidence=evidence,
        index=index.stats(),
        model=embedder.name,
        took_ms=round((done - started) * 1000, 3),
        timings_ms={
            "sync": (synced - started) * 1000,
            "embed": (embedded - synced) * 1000,
            "rank": (searched - embedded) * 1000,
            "resolve": (done - searched) * 1000,
        },
    )


def _rounded(scores: Scores) -> Scores:
    return Scores(round(scores.dense, 6), round(scores.lexical, 6), round(scores.fused, 6))
