"""Claim -> ranked evidence: dense and lexical candidates, scored by the evidence model,
decided, grouped with the passages that corroborate them, resolved to their sources."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.core.embed import Embedder
from service.core.evidence import load_model
from service.core.features import Candidates
from service.core.index import IndexStats, Key, StatementIndex, local_day, timestamp
from service.core.options import DEFAULT_MIN_SCORE, Options, options_from
from service.core.provenance import Corroboration, matched_terms, provenance
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

# Candidates taken from each retriever before scoring; enough that a statement ranked well by
# only one of them still reaches the list.
CANDIDATES = 50
# The hand-set blend the evidence model replaced (docs/quality.md), still reported as
# `scores.fused` and used by `rank`: BM25 (per-claim max-normalised) against cosine, and a
# statement read after the one before it, counted at CONTEXT_WEIGHT when it matches better.
LEXICAL_WEIGHT = 0.4
CONTEXT_WEIGHT = 0.9
# Statements of other articles at least this similar to an evidence passage corroborate it;
# from this similarity on they are near-copies, listed as corroboration, not given a slot.
CORROBORATION_MIN = 0.75
NEAR_COPY_MIN = 0.97

NO_EVIDENCE = "no_statement_above_threshold"  # no passage reaches the evidence decision
# A listed passage is called evidence when it is more likely evidence than not; the others
# are related (the decision's threshold is far lower: it only says the index holds some).
LIKELY = 0.5


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float
    context: float = 0.0  # cosine with the statement read after the one before it
    rank: float = 0.0  # the fitted ranking model's output in [0, 1]: the list's order
    probability: float = 0.0  # the evidence model's: this passage is evidence for the claim


@dataclass(frozen=True)
class Evidence:
    hit: Hit
    scores: Scores
    matched_terms: list[str] = field(default_factory=list)
    corroborated_by: list[Corroboration] = field(default_factory=list)
    after_claim_date: bool = False
    # More likely evidence than not (probability >= LIKELY), or only related to the claim.
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
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The answer in a sentence: evidence, related passages, or why there is none."""
        return summary(self)


def rank(
    index: StatementIndex,
    claim: str,
    query: np.ndarray,
    top_k: int,
    lexical_weight: float = LEXICAL_WEIGHT,
    allowed: np.ndarray | None = None,
) -> list[tuple[Key, Scores]]:
    """The hand-set blend of cosine and normalised BM25 over the union of both candidate
    lists (the approximate index's tests and benchmark compare rankings with it)."""
    candidates = index.candidates(query, claim, max(CANDIDATES, top_k), allowed)
    return fuse(candidates, top_k, lexical_weight)


def fuse(
    candidates: list[tuple[Key, float, float, float]],
    top_k: int,
    lexical_weight: float = LEXICAL_WEIGHT,
) -> list[tuple[Key, Scores]]:
    """Candidates (key, cosine, bm25, context cosine) -> the top_k by fused score, best first."""
    fused = [
        (key, Scores(dense=cosine, lexical=bm25, fused=score, context=context))
        for (key, cosine, bm25, context), score in zip(
            candidates, _blend(candidates, lexical_weight), strict=True
        )
    ]
    fused.sort(key=lambda item: (-item[1].fused, item[0]))
    return fused[:top_k]


def _blend(candidates: list[tuple[Key, float, float, float]], lexical_weight: float) -> list[float]:
    top_lexical = max((bm25 for _, _, bm25, _ in candidates), default=0.0)
    return [
        (1 - lexical_weight) * max(cosine, CONTEXT_WEIGHT * context)
        + lexical_weight * (bm25 / top_lexical if top_lexical > 0 else 0.0)
        for _, cosine, bm25, context in candidates
    ]


def score(table: Candidates) -> list[tuple[Key, Scores]]:
    """Every candidate with its scores, best first by the fitted ranking model."""
    if not len(table):
        return []
    logit, probability = load_model().score(table)
    rank = 1.0 / (1.0 + np.exp(-logit))
    top_lexical = float(table.bm25.max())
    lexical = table.bm25 / top_lexical if top_lexical > 0 else np.zeros(len(table))
    semantic = np.maximum(table.cosine, CONTEXT_WEIGHT * table.context)
    blended = (1 - LEXICAL_WEIGHT) * semantic + LEXICAL_WEIGHT * lexical
    columns = (table.cosine, table.bm25, blended, table.context, rank, probability)
    scored = [
        (key, Scores(*values))
        for key, values in zip(
            table.keys, zip(*(c.tolist() for c in columns), strict=True), strict=True
        )
    ]
    scored.sort(key=lambda item: (-item[1].rank, item[0]))
    return scored


def _select(
    ranked: list[tuple[Key, Scores]], vectors: np.ndarray, options: Options
) -> list[tuple[int, bool, list[tuple[int, float]]]]:
    """Pick up to top_k passages, best first, each with whether it is likely evidence and
    the indices of the other articles' candidates that corroborate it; near-copies take no
    slot.

    The decision: a claim gets evidence only if some passage's probability reaches
    min_probability. Then the list holds the passages that reach it, and those whose cosine
    reaches min_score or, when their words carry them (fused score >= min_score), half of it:
    a passage found by its words can be listed, a word match unlike the claim not.
    """
    decision = options.decision
    if max((s.probability for _, s in ranked), default=-1.0) < decision:
        return []
    similarity = vectors @ vectors.T
    chosen: list[tuple[int, bool, list[tuple[int, float]]]] = []
    covered: set[int] = set()
    for i, (key, scores) in enumerate(ranked):
        if len(chosen) == options.top_k:
            break
        if i in covered:
            continue
        if scores.probability < decision and not _qualifies(scores, options.min_score):
            continue
        group = [
            (j, float(similarity[i, j]))
            for j, (other, _) in enumerate(ranked)
            if other[0] != key[0] and similarity[i, j] >= CORROBORATION_MIN
        ]
        group.sort(key=lambda item: -item[1])
        covered.update(j for j, sim in group if sim >= NEAR_COPY_MIN)
        chosen.append((i, scores.probability >= LIKELY, group))
    return chosen


def _after_claim(published: str | None, options: Options) -> bool:
    if options.claim_day is not None:
        return local_day(published) > options.claim_day
    return options.claim_date is not None and timestamp(published) > options.claim_date


def _qualifies(scores: Scores, min_score: float) -> bool:
    if scores.dense >= min_score:
        return True
    floor = min_score / 2 if min_score > 0 else min_score
    return scores.fused >= min_score and scores.dense >= floor


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
    ranked = score(table)
    vectors = index.vectors_of([key for key, _ in ranked])
    chosen = _select(ranked, vectors, options)
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
                scores=_rounded(ranked[i][1]),
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
        reason=reason,
        timings_ms={
            "search": (searched - began) * 1000,  # dense and lexical candidates, features
            "rank": (ranked_at - searched) * 1000  # scoring, decision, corroboration...
            + (time.perf_counter() - resolved_at) * 1000,  # ...and provenance
            "resolve": (resolved_at - ranked_at) * 1000,  # passages read from the store
        },
    )


def _rounded(scores: Scores) -> Scores:
    # vars(), not dataclasses.astuple: astuple deep-copies every field (5x slower, per passage).
    return Scores(*(round(value, 6) for value in vars(scores).values()))
