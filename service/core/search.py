"""Claim -> ranked evidence: dense and lexical candidates, fused, thresholded, grouped with
the passages that corroborate them, resolved to their sources."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.config import Config
from service.core.embed import Embedder
from service.core.index import (
    Filters,
    IndexStats,
    Key,
    StatementIndex,
    SyncedIndex,
    local_day,
    timestamp,
)
from service.core.lexical import tokenize
from service.store.base import Hit, Store

# Candidates taken from each retriever before fusion; enough that a statement ranked well by
# only one of them still reaches the fused list.
CANDIDATES = 50
# Weight of the (per-claim max-normalised) BM25 score against cosine similarity.
LEXICAL_WEIGHT = 0.4
# Evidence needs at least this cosine similarity to the claim (see docs/quality.md).
DEFAULT_MIN_SCORE = 0.3
# Statements of other articles at least this similar to an evidence passage corroborate it;
# from this similarity on they are near-copies, listed as corroboration, not given a slot.
CORROBORATION_MIN = 0.75
NEAR_COPY_MIN = 0.97

NO_EVIDENCE = "no_statement_above_threshold"
EMPTY_INDEX = "index_empty"
FILTERED_OUT = "no_statement_matches_filters"


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float


@dataclass(frozen=True)
class Options:
    """How one check is run: list length, threshold, filters and the claim's date."""

    top_k: int = 5
    min_score: float = DEFAULT_MIN_SCORE
    filters: Filters = field(default_factory=Filters)
    claim_date: float | None = None  # POSIX seconds; evidence published later is flagged
    claim_day: str | None = None  # or a bare date: evidence from a later day is flagged


@dataclass(frozen=True)
class Corroboration:
    hit: Hit
    similarity: float

    @property
    def statement_id(self) -> str:
        return f"{self.hit.article.id}:{self.hit.statement.position}"


@dataclass(frozen=True)
class Evidence:
    hit: Hit
    scores: Scores
    matched_terms: list[str] = field(default_factory=list)
    corroborated_by: list[Corroboration] = field(default_factory=list)
    after_claim_date: bool = False

    @property
    def score(self) -> float:
        return self.scores.fused

    @property
    def statement_id(self) -> str:
        return f"{self.hit.article.id}:{self.hit.statement.position}"

    @property
    def independent_sources(self) -> int:
        """Distinct outlets saying this: the passage's own and its corroborators'."""
        outlets = {self.hit.article.source.casefold()}
        outlets.update(c.hit.article.source.casefold() for c in self.corroborated_by)
        return len(outlets)


@dataclass
class CheckResult:
    claim: str
    evidence: list[Evidence]
    index: IndexStats
    model: str
    took_ms: float
    min_score: float
    best_score: float | None = None
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    key: Key
    scores: Scores


def rank(
    index: StatementIndex,
    claim: str,
    query: np.ndarray,
    top_k: int,
    lexical_weight: float = LEXICAL_WEIGHT,
    allowed: np.ndarray | None = None,
) -> list[tuple[Key, Scores]]:
    """Fuse cosine similarity with normalised BM25 over the union of both candidate lists."""
    candidates = index.candidates(query, claim, max(CANDIDATES, top_k), allowed)
    top_lexical = max((bm25 for _, _, bm25 in candidates), default=0.0)
    fused = []
    for key, cosine, bm25 in candidates:
        lex = bm25 / top_lexical if top_lexical > 0 else 0.0
        score = (1 - lexical_weight) * cosine + lexical_weight * lex
        fused.append((key, Scores(dense=cosine, lexical=bm25, fused=score)))
    fused.sort(key=lambda item: (-item[1].fused, item[0]))
    return fused[:top_k]


def options_from(params: Mapping[str, Any], config: Config) -> Options:
    """Validated check parameters -> search options, with the configured defaults and caps.

    A bare date is a calendar day (inclusive), compared with the article's own date; a
    date-time is an instant.
    """
    top_k = min(params.get("top_k") or config.default_top_k, config.max_top_k)
    min_score = params.get("min_score")
    after, before = params.get("published_after"), params.get("published_before")
    claim = params.get("claim_date")
    sources = params.get("sources")
    return Options(
        top_k=top_k,
        min_score=config.min_score if min_score is None else min_score,
        filters=Filters(
            sources=tuple(sources) if sources else None,
            published_after=_instant(after),
            published_before=_instant(before),
            after_day=_day(after),
            before_day=_day(before),
        ),
        claim_date=_instant(claim),
        claim_day=_day(claim),
    )


def _day(value: str | None) -> str | None:
    return value if value is not None and len(value) == 10 else None


def _instant(value: str | None) -> float | None:
    return timestamp(value) if value is not None and len(value) > 10 else None


def matched_terms(claim: str, statement: str) -> list[str]:
    """The claim's words whose stems occur in the statement, in claim order."""
    stems = set(tokenize(statement))
    words = dict.fromkeys(w for w in re.findall(r"\w+", claim) if set(tokenize(w)) & stems)
    return list(words)


def _select(
    ranked: list[tuple[Key, Scores]], vectors: np.ndarray, options: Options
) -> list[tuple[int, list[tuple[int, float]]]]:
    """Pick up to top_k passages, best first, each with the indices of the other articles'
    candidates that corroborate it; near-copies take no slot.

    The threshold works at two levels: a claim gets evidence only if some statement's cosine
    similarity reaches min_score (cosine is the calibrated measure, docs/quality.md); then
    each passage needs that cosine too, or, if its words carry it (fused >= min_score), half
    of it: a passage found by its words can be evidence, a word match unlike the claim not.
    """
    if max((s.dense for _, s in ranked), default=-1.0) < options.min_score:
        return []
    similarity = vectors @ vectors.T
    chosen: list[tuple[int, list[tuple[int, float]]]] = []
    covered: set[int] = set()
    for i, (key, scores) in enumerate(ranked):
        if len(chosen) == options.top_k:
            break
        if not _qualifies(scores, options.min_score) or i in covered:
            continue
        group = [
            (j, float(similarity[i, j]))
            for j, (other, _) in enumerate(ranked)
            if other[0] != key[0] and similarity[i, j] >= CORROBORATION_MIN
        ]
        group.sort(key=lambda item: -item[1])
        covered.update(j for j, sim in group if sim >= NEAR_COPY_MIN)
        chosen.append((i, group))
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
    ranked = rank(index, claim, query, max(CANDIDATES, 2 * options.top_k), allowed=allowed)
    vectors = index.vectors_of([key for key, _ in ranked])
    chosen = _select(ranked, vectors, options)
    ranked_ms = (time.perf_counter() - began) * 1000
    needed = sorted({i for i, _ in chosen} | {j for _, g in chosen for j, _ in g})
    resolved = dict(zip(needed, store.resolve([ranked[i][0] for i in needed]), strict=True))
    evidence = []
    for i, group in chosen:
        hit = resolved[i]
        if hit is None:  # deleted since the search
            continue
        published = hit.article.published_at
        evidence.append(
            Evidence(
                hit=hit,
                scores=_rounded(ranked[i][1]),
                matched_terms=matched_terms(claim, hit.statement.text),
                corroborated_by=[
                    Corroboration(hit=h, similarity=round(sim, 6))
                    for j, sim in group
                    if (h := resolved[j]) is not None
                ],
                after_claim_date=_after_claim(published, options),
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
        best_score=round(best, 6) if best is not None else None,
        reason=reason,
        timings_ms={"rank": ranked_ms, "resolve": (time.perf_counter() - began) * 1000 - ranked_ms},
    )


def _rounded(scores: Scores) -> Scores:
    return Scores(round(scores.dense, 6), round(scores.lexical, 6), round(scores.fused, 6))
