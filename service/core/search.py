"""Claim -> ranked evidence: dense and lexical candidates, fused, thresholded, grouped with
the passages that corroborate them, resolved to their sources."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

import numpy as np

from service.config import Config
from service.core.embed import Embedder
from service.core.index import (
    Filters,
    IndexStats,
    Key,
    StatementIndex,
    local_day,
    timestamp,
)
from service.core.lexical import tokenize
from service.core.outlets import count_groups, credits, same_outlet, shared_origin
from service.core.synced import SyncedIndex
from service.store.base import Article, Hit, Store

# Candidates taken from each retriever before fusion; enough that a statement ranked well by
# only one of them still reaches the fused list.
CANDIDATES = 50
# Weight of the (per-claim max-normalised) BM25 score against cosine similarity.
LEXICAL_WEIGHT = 0.4
# A statement is also read after the one before it ("The ministry didn't explain why." says
# little alone); that reading counts at this weight when it matches the claim better.
CONTEXT_WEIGHT = 0.9
# Evidence needs at least this cosine similarity to the claim (see docs/quality.md).
DEFAULT_MIN_SCORE = 0.3
# Statements of other articles at least this similar to an evidence passage corroborate it;
# from this similarity on they are near-copies, listed as corroboration, not given a slot.
CORROBORATION_MIN = 0.75
NEAR_COPY_MIN = 0.97
# Corroborating passages listed per evidence item, most similar first; the source and origin
# counts take them all. Bounds a response: a wire story copied by a hundred outlets would
# otherwise list a hundred passages under each of its statements.
MAX_CORROBORATIONS = 10

# Articles whose credits (service.core.outlets) are kept per process; oldest out first.
CREDIT_CACHE_SIZE = 4096
_credit_cache: dict[tuple[str, str], tuple[str, ...]] = {}

NO_EVIDENCE = "no_statement_above_threshold"
EMPTY_INDEX = "index_empty"
FILTERED_OUT = "no_statement_matches_filters"


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float
    context: float = 0.0  # cosine with the statement read after the one before it


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
    same_outlet: bool = False  # another cut of the evidence's own outlet's story
    shared_origin: str | None = None  # a wire or interview both articles credit

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
    return fuse(candidates, top_k, lexical_weight)


def fuse(
    candidates: list[tuple[Key, float, float, float]],
    top_k: int,
    lexical_weight: float = LEXICAL_WEIGHT,
) -> list[tuple[Key, Scores]]:
    """Candidates (key, cosine, bm25, context cosine) -> the top_k by fused score, best first."""
    top_lexical = max((bm25 for _, _, bm25, _ in candidates), default=0.0)
    fused = []
    for key, cosine, bm25, context in candidates:
        lex = bm25 / top_lexical if top_lexical > 0 else 0.0
        semantic = max(cosine, CONTEXT_WEIGHT * context)
        score = (1 - lexical_weight) * semantic + lexical_weight * lex
        fused.append((key, Scores(dense=cosine, lexical=bm25, fused=score, context=context)))
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
    pool = max(CANDIDATES, 2 * options.top_k)
    candidates = index.candidates(query, claim, pool, allowed)
    searched = time.perf_counter()
    ranked = fuse(candidates, pool)
    vectors = index.vectors_of([key for key, _ in ranked])
    chosen = _select(ranked, vectors, options)
    needed = sorted({i for i, _ in chosen} | {j for _, g in chosen for j, _ in g})
    ranked_at = time.perf_counter()
    resolved = dict(zip(needed, store.resolve([ranked[i][0] for i in needed]), strict=True))
    resolved_at = time.perf_counter()
    evidence = []
    for i, group in chosen:
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
        best_score=round(best, 6) if best is not None else None,
        reason=reason,
        timings_ms={
            "search": (searched - began) * 1000,  # dense and lexical candidates
            "rank": (ranked_at - searched) * 1000  # fusion, threshold, corroboration...
            + (time.perf_counter() - resolved_at) * 1000,  # ...and provenance
            "resolve": (resolved_at - ranked_at) * 1000,  # passages read from the store
        },
    )


def provenance(hit: Hit, others: list[tuple[Hit, float]], store: Store) -> dict[str, Any]:
    """Corroborating passages with how they relate to the evidence's outlet and origin, and
    the counts of distinct outlets and of distinct origins among all of them."""
    articles = [hit.article] + [h.article for h, _ in others]

    def outlet(a: Article, b: Article) -> bool:
        return same_outlet(a.source, b.source)

    def origin(a: Article, b: Article) -> str | None:
        return shared_origin(_credits(store, a), _credits(store, b))

    return {
        "corroborated_by": [
            Corroboration(h, sim, outlet(hit.article, h.article), origin(hit.article, h.article))
            for h, sim in others[:MAX_CORROBORATIONS]
        ],
        "independent_sources": count_groups(articles, outlet),
        "independent_origins": count_groups(
            articles, lambda a, b: outlet(a, b) or origin(a, b) is not None
        ),
    }


def _credits(store: Store, article: Article) -> tuple[str, ...]:
    """What an article credits for its material, read from its text once per version."""
    key = (article.id, article.content_hash)
    cached = _credit_cache.get(key)
    if cached is None:
        full = store.get_article(article.id, with_text=True)
        if full is None:  # deleted since the search: nothing to read, and nothing to keep
            return ()
        cached = tuple(credits(full.text or ""))
        if len(_credit_cache) >= CREDIT_CACHE_SIZE:
            _credit_cache.pop(next(iter(_credit_cache)))
        _credit_cache[key] = cached
    return cached


def _rounded(scores: Scores) -> Scores:
    return Scores(*(round(value, 6) for value in astuple(scores)))
