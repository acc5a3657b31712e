"""What the evidence model reads of each candidate passage: the scores the index computes for
it, and how much of the claim's informative vocabulary it (and its article's title) covers.

Flask-free and model-free: the same function serves the check and the fitting script
(scripts/fit_evidence.py), so the model is fitted on exactly what it is applied to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from service.core.lexical import tokenize

Key = tuple[str, int]  # (article id, statement position)

# Order of the columns of `features()`; the fitted weights (service/core/evidence_model.json)
# name them, and loading refuses a file fitted on another list.
FEATURES = (
    "cosine",  # claim . statement
    "context_gain",  # how much reading the statement after its predecessor adds
    "bm25_log",  # log(1 + BM25): absolute word evidence, comparable across claims
    "bm25_share",  # BM25 / the best candidate's BM25: word evidence relative to this claim
    "coverage",  # idf-weighted share of the claim's terms the statement contains
    "title_coverage",  # the same, counting the article title's terms as the statement's
    "article_coverage",  # the same over the whole article (every statement and the title)
    "name_coverage",  # the same over the claim's names (capitalised words) only; 1 if none
    "cosine_gap",  # cosine - the best candidate's cosine (<= 0)
    "top_cosine",  # the best candidate's cosine: how close the index comes to the claim at all
    "top_margin",  # best cosine - second best: a clear winner or a crowd of near-misses
    "top_coverage",  # the best coverage among candidates (claim terms nowhere matched)
    "known",  # idf-weighted share of the claim's terms that occur anywhere in the index
)


@dataclass(frozen=True)
class Candidates:
    """One claim's candidate passages, as parallel arrays (one entry a passage)."""

    keys: list[Key]
    cosine: np.ndarray
    bm25: np.ndarray
    context: np.ndarray
    coverage: np.ndarray
    title_coverage: np.ndarray
    article_coverage: np.ndarray
    name_coverage: np.ndarray
    known: float = 1.0

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, order: np.ndarray) -> Candidates:
        return Candidates(
            keys=[self.keys[int(i)] for i in order],
            cosine=self.cosine[order],
            bm25=self.bm25[order],
            context=self.context[order],
            coverage=self.coverage[order],
            title_coverage=self.title_coverage[order],
            article_coverage=self.article_coverage[order],
            name_coverage=self.name_coverage[order],
            known=self.known,
        )


_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def name_terms(claim: str) -> set[str]:
    """The terms of the claim's names: capitalised words past its first word ("Marilyn
    Castonguay", "Atlantic Records"), and a first word in capitals throughout ("NATO")."""
    words = _WORD.findall(claim)
    picked = [w for i, w in enumerate(words) if w[0].isupper() and (i > 0 or w.isupper())]
    return {t for w in picked for t in tokenize(w)}


def coverage(matches: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Per row of a (rows, terms) boolean matrix: the idf-weighted share of terms present."""
    total = float(idf.sum())
    if total <= 0 or matches.size == 0:
        return np.zeros(len(matches), dtype=np.float64)
    return (matches @ idf) / total


def features(c: Candidates) -> np.ndarray:
    """The (candidates, len(FEATURES)) matrix the evidence model is applied to."""
    n = len(c)
    if n == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    cosine = c.cosine.astype(np.float64)
    bm25 = c.bm25.astype(np.float64)
    top_bm25 = float(bm25.max())
    ordered = np.sort(cosine)[::-1]
    top = float(ordered[0])
    margin = float(ordered[0] - ordered[1]) if n > 1 else 0.0
    columns = [
        cosine,
        np.maximum(c.context.astype(np.float64) - cosine, 0.0),
        np.log1p(bm25),
        bm25 / top_bm25 if top_bm25 > 0 else np.zeros(n),
        c.coverage.astype(np.float64),
        c.title_coverage.astype(np.float64),
        c.article_coverage.astype(np.float64),
        c.name_coverage.astype(np.float64),
        cosine - top,
        np.full(n, top),
        np.full(n, margin),
        np.full(n, float(c.coverage.max())),
        np.full(n, c.known),
    ]
    return np.column_stack(columns)


# What the decision reads of a passage: its own closeness to the claim, how much of the
# claim's vocabulary it, its title, its article and the index hold, and the ranking model's
# logit. No claim-wide maxima: each passage's probability stands on the passage alone.
DECISION_FEATURES = (
    "cosine",
    "coverage",
    "title_coverage",
    "article_coverage",
    "name_coverage",
    "known",
    "bm25_log",
    "context_gain",
    "rank_logit",
)


def decision_inputs(x: np.ndarray, rank_logit: np.ndarray) -> np.ndarray:
    """The (candidates, len(DECISION_FEATURES)) matrix of the decision model."""
    columns = [FEATURES.index(name) for name in DECISION_FEATURES[:-1]]
    return np.column_stack([x[:, columns], rank_logit])
