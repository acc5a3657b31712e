"""A check's candidates scored: the fitted ranking and evidence model's output beside the
hand-set blend of cosine and BM25 it replaced (still reported as ``scores.fused``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core.evidence import EvidenceModel
from service.core.features import Candidates
from service.core.index import Key, StatementIndex

# Candidates taken from each retriever before scoring; enough that a statement ranked well by
# only one of them still reaches the list.
CANDIDATES = 50
# The hand-set blend the evidence model replaced (docs/quality.md), still reported as
# `scores.fused` and used by `rank`: BM25 (per-claim max-normalised) against cosine, and a
# statement read after the one before it, counted at CONTEXT_WEIGHT when it matches better.
LEXICAL_WEIGHT = 0.4
CONTEXT_WEIGHT = 0.9


@dataclass(frozen=True)
class Scores:
    dense: float
    lexical: float
    fused: float
    context: float = 0.0  # cosine with the statement read after the one before it
    rank: float = 0.0  # the fitted ranking model's output in [0, 1]: the list's order
    probability: float = 0.0  # the evidence model's: this passage is evidence for the claim


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


def score(table: Candidates, model: EvidenceModel) -> list[tuple[Key, Scores]]:
    """Every candidate with its scores, best first by the fitted ranking model (the weights
    fitted on the vectors of the backend that embedded the claim: Options.model)."""
    if not len(table):
        return []
    logit, probability = model.score(table)
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


def rounded(scores: Scores) -> Scores:
    # vars(), not dataclasses.astuple: astuple deep-copies every field (5x slower, per passage).
    return Scores(*(round(value, 6) for value in vars(scores).values()))
