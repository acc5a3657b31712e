"""Claim -> ranked evidence: dense and lexical candidates, scored by the evidence model,
decided, grouped with the passages that corroborate them, resolved to their sources."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.core.embed import Embedder
from service.core.features import Candidates
from service.core.index import IndexStats, Key, local_day, timestamp
from service.core.options import DEFAULT_MIN_SCORE, Options, options_from
from service.core.provenance import Corroboration, matched_terms, provenance
from service.core.scoring import CANDIDATES, Scores, rank, rounded, score
from service.core.selection import evidence_probability, select
from service.core.synced import SyncedIndex
from service.core.wording import EMPTY_INDEX, FILTERED_OUT, summary
from service.store.base import Store
from service.types import Hit

__all__ = [
    "DEFAULT_MIN_SCORE",
    "EMPTY_INDEX",
    "FILTERED_OUT",
    "NO_EVIDENCE",
    "CheckResult",
    "Corroboration",
    "Evidence",
    "Options",
    "Scores",
    "check_claim",
    "check_claims",
    "options_from",
    "rank",
]

NO_EVIDENCE = "no_statement_above_threshold"  # the claim under the decision (selection)


@dataclass(frozen=True)
class Evidence:
    hit: Hit
    scores: Scores
    matched_terms: list[str] = field(default_factory=list)
    corroborated_by: list[Corroboration] = field(default_factory=list)
    after_claim_date: bool = False
    # More likely evidence than not (probability >= selection.LIKELY), or only related.
    is_evidence: bool = True

    @property
    def score(self) -> float:
        return self.scores.rank

    @property
    def probability(self) -> float:
        return self.scores.probability

    @property
    def statement_id(self) -> str:
        return f"{self.hit.article.id}:{self.hit.statement.position}"

    independent_sources: int = 1  # distinct outlets: the passage's own and corroborators'
    independent_origins: int = 1  # the same, joining outlets that credit one wire/interview


@dataclass
class CheckResult:
    claim: str
    evidence: list[Evidence]
    index: IndexStats
    model: str
    took_ms: float
    min_score: float
    min_probability: float = 0.0
    best_score: float | None = None
    best_probability: float | None = None
    evidence_probability: float | None = None  # the decision's input (selection)
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The answer in a sentence: evidence, related passages, or why there is none."""
        return summary(self)


def _after_claim(published: str | None, options: Options) -> bool:
    if options.claim_day is not None:
        return local_day(published) > options.claim_day
    return options.claim_date is not None and timestamp(published) > options.claim_date


def check_claims(
    claims: Sequence[str],
    options: Options,
    store: Store,
    embedder: Embedder,
    index: SyncedIndex,
) -> list[CheckResult]:
    """Check several claims: one sync and one embedding batch for all of them."""
    started = time.perf_counter()
    index.sync()
    synced = time.perf_counter()
    queries = embedder.encode(list(claims))
    embedded = time.perf_counter()
    allowed = index.articles_matching(options.filters)
    results = []
    for claim, query in zip(claims, queries, strict=True):
        began = time.perf_counter()
        result = _check_one(claim, query, options, store, index, allowed)
        result.took_ms = round((time.perf_counter() - began) * 1000, 3)
        result.timings_ms["sync"] = (synced - started) * 1000
        result.timings_ms["embed"] = (embedded - synced) * 1000 / len(claims)
        result.model = embedder.name
        results.append(result)
    return results


def check_claim(
    claim: str, options: Options, store: Store, embedder: Embedder, index: SyncedIndex
) -> CheckResult:
    """Find the statements that best support a claim, best first, with their articles."""
    started = time.perf_counter()
    [result] = check_claims([claim], options, store, embedder, index)
    result.took_ms = round((time.perf_counter() - started) * 1000, 3)
    return result


def _vectors_of(table: Candidates, ranked: list[tuple[Key, Scores]]) -> np.ndarray:
    """The ranked candidates' vectors: those the candidate table read, in ranked order."""
    assert table.vectors is not None  # candidate_table always reads them
    at = {key: i for i, key in enumerate(table.keys)}
    return table.vectors[np.array([at[key] for key, _ in ranked], dtype=np.int64)]


def _check_one(
    claim: str,
    query: np.ndarray,
    options: Options,
    store: Store,
    index: SyncedIndex,
    allowed: np.ndarray | None,
) -> CheckResult:
    began = time.perf_counter()
    # Beyond top_k: room for passages under the threshold, near-copies and vanished rows.
    pool = max(CANDIDATES, 2 * options.top_k)
    table = index.candidate_table(query, claim, pool, allowed)
    searched = time.perf_counter()
    ranked = score(table, options.model)
    vectors = _vectors_of(table, ranked)
    similarity = vectors @ vectors.T
    likely = evidence_probability(ranked, similarity) if ranked else None
    chosen = select(ranked, similarity, options, likely or 0.0)
    needed = sorted({i for i, _, _ in chosen} | {j for _, _, g in chosen for j, _ in g})
    ranked_at = time.perf_counter()
    resolved = dict(zip(needed, store.resolve([ranked[i][0] for i in needed]), strict=True))
    resolved_at = time.perf_counter()
    evidence = []
    for i, above, group in chosen:
        hit = resolved[i]
        if hit is None:  # deleted since the search
            continue
        published = hit.article.published_at
        others = [(h, round(sim, 6)) for j, sim in group if (h := resolved[j]) is not None]
        evidence.append(
            Evidence(
                hit=hit,
                scores=rounded(ranked[i][1]),
                matched_terms=matched_terms(claim, hit.statement.text),
                after_claim_date=_after_claim(published, options),
                is_evidence=above,
                **provenance(hit, others, store),
            )
        )
    stats = index.stats()
    best = max((s.dense for _, s in ranked), default=None)
    reason = None
    if not evidence:
        reason = (
            EMPTY_INDEX if stats.statements == 0 else FILTERED_OUT if not ranked else NO_EVIDENCE
        )
    return CheckResult(
        claim=claim,
        evidence=evidence,
        index=stats,
        model="",
        took_ms=0.0,
        min_score=options.min_score,
        min_probability=round(options.decision, 6),
        best_score=round(best, 6) if best is not None else None,
        best_probability=(round(max(s.probability for _, s in ranked), 6) if ranked else None),
        evidence_probability=round(likely, 6) if likely is not None else None,
        reason=reason,
        timings_ms={
            "search": (searched - began) * 1000,  # dense and lexical candidates, features
            "rank": (ranked_at - searched) * 1000  # scoring, decision, corroboration...
            + (time.perf_counter() - resolved_at) * 1000,  # ...and provenance
            "resolve": (resolved_at - ranked_at) * 1000,  # passages read from the store
        },
    )
