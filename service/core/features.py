"""What the evidence model reads of each candidate passage: the scores the index computes for
it, and how much of the claim's informative vocabulary it (and its article's title) covers.

Flask-free and model-free: the same function serves the check and the fitting script
(scripts/fit_evidence.py), so the model is fitted on exactly what it is applied to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from service.core.tokens import tokenize

Key = tuple[str, int]  # (article id, statement position)

# The ranking model's inputs, in order (`features`); the fitted weights
# (service/core/evidence_model.json) name them, and loading refuses a file fitted on others.
FEATURES = (
    "cosine",  # claim . statement
    "context_gain",  # how much reading the statement after its predecessor adds
    "next_gain",  # how much reading it before its successor adds
    "bm25_log",  # log(1 + BM25): absolute word evidence, comparable across claims
    "bm25_share",  # BM25 / the best candidate's BM25: word evidence relative to this claim
    "coverage",  # idf-weighted share of the claim's terms the statement contains
    "window_gain",  # the share the statement and its two neighbours hold, minus coverage
    "title_coverage",  # the same, counting the article title's terms as the statement's
    "article_coverage",  # the same over the whole article (every statement and the title)
    "name_coverage",  # the same over the claim's names (capitalised words) only; 1 if none
    "cosine_gap",  # cosine - the best candidate's cosine (<= 0)
    "article_gap",  # cosine - the best cosine among the pool's candidates of its article
    "article_share",  # log of how many of the pool's candidates its article holds
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
    context: np.ndarray  # cosine with the statement read after its predecessor
    next_context: np.ndarray  # ... and read before its successor
    coverage: np.ndarray
    window_coverage: np.ndarray  # coverage by the statement and both its neighbours
    title_coverage: np.ndarray
    article_coverage: np.ndarray
    name_coverage: np.ndarray
    article: np.ndarray  # which of the pool's articles each is from (0..articles-1)
    known: float = 1.0
    # Each candidate's unit vector, as read for its cosines (None where only the features
    # are kept: the fit script's cache).
    vectors: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def subset(self, order: np.ndarray) -> Candidates:
        """The candidates at `order`, their article numbers renumbered 0..k-1."""
        return Candidates(
            keys=[self.keys[int(i)] for i in order],
            cosine=self.cosine[order],
            bm25=self.bm25[order],
            context=self.context[order],
            next_context=self.next_context[order],
            coverage=self.coverage[order],
            window_coverage=self.window_coverage[order],
            title_coverage=self.title_coverage[order],
            article_coverage=self.article_coverage[order],
            name_coverage=self.name_coverage[order],
            article=np.unique(self.article[order], return_inverse=True)[1].reshape(-1),
            known=self.known,
            vectors=None if self.vectors is None else self.vectors[order],
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


def columns(c: Candidates) -> dict[str, np.ndarray]:
    """Every feature of FEATURES, by name, one value a candidate."""
    n = len(c)
    cosine = c.cosine.astype(np.float64)
    bm25 = c.bm25.astype(np.float64)
    top_bm25 = float(bm25.max())
    ordered = np.sort(cosine)[::-1]
    top = float(ordered[0])
    margin = float(ordered[0] - ordered[1]) if n > 1 else 0.0
    coverage = c.coverage.astype(np.float64)
    best_in_article = np.full(int(c.article.max()) + 1, -np.inf)
    np.maximum.at(best_in_article, c.article, cosine)
    return {
        "cosine": cosine,
        "context_gain": np.maximum(c.context.astype(np.float64) - cosine, 0.0),
        "next_gain": np.maximum(c.next_context.astype(np.float64) - cosine, 0.0),
        "bm25_log": np.log1p(bm25),
        "bm25_share": bm25 / top_bm25 if top_bm25 > 0 else np.zeros(n),
        "coverage": coverage,
        "window_gain": c.window_coverage.astype(np.float64) - coverage,
        "title_coverage": c.title_coverage.astype(np.float64),
        "article_coverage": c.article_coverage.astype(np.float64),
        "name_coverage": c.name_coverage.astype(np.float64),
        "cosine_gap": cosine - top,
        "article_gap": cosine - best_in_article[c.article],
        "article_share": np.log(np.bincount(c.article)[c.article]),
        "top_cosine": np.full(n, top),
        "top_margin": np.full(n, margin),
        "top_coverage": np.full(n, float(coverage.max())),
        "known": np.full(n, c.known),
    }


def features(cols: dict[str, np.ndarray], names: tuple[str, ...] = FEATURES) -> np.ndarray:
    """The (candidates, len(names)) matrix of the named columns (`columns`)."""
    return np.column_stack([cols[name] for name in names])


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


def decision_inputs(
    cols: dict[str, np.ndarray],
    rank_logit: np.ndarray,
    names: tuple[str, ...] = DECISION_FEATURES,
) -> np.ndarray:
    """The (candidates, len(names)) matrix of the decision model (the last: rank_logit)."""
    return np.column_stack([features(cols, names[:-1]), rank_logit])
