"""In-process statement index: dense vectors (an exact scan, or an approximate index for the
rows it covers plus an exact scan of the rest) and BM25 postings.

Each worker holds its own copy, kept current from the store by ``service.core.synced``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.core.dense import DenseRows, find_sorted, top_rows
from service.core.features import Candidates, coverage, name_terms
from service.core.filters import Filters, local_day, timestamp
from service.core.tokens import tokenize

__all__ = ["Filters", "IndexStats", "Key", "StatementIndex", "local_day", "timestamp"]

Key = tuple[str, int]  # (article id, statement position)


@dataclass(frozen=True)
class IndexStats:
    articles: int
    statements: int
    version: int


class StatementIndex(DenseRows):
    """Rows of statements (``service.core.rows``) searched by cosine (``service.core.dense``)
    and by BM25."""

    # -- reads --------------------------------------------------------------------------
    def _key(self, row: int) -> Key:
        return self._article_ids[self._row_article[row]], int(self._row_position[row])

    def dense(self, query: np.ndarray, top_k: int) -> list[tuple[Key, float]]:
        """The top_k statements by cosine similarity to a unit query vector, best first
        (through the approximate index when one is attached)."""
        with self._lock:
            query = query.astype(np.float32)
            live = self._alive[: self._used]
            rows = self._dense_rows(query, min(top_k, self._live), live, filtered=False)
            return self._top(rows, self._vectors.take(rows) @ query, len(rows))

    def lexical_search(self, query: str, top_k: int) -> list[tuple[Key, float]]:
        """The top_k statements by BM25 score for the query's terms, best first."""
        with self._lock:
            stamp = self._mutations
            rows, scores = self.lexical.search(query, self._alive, self._live, None, stamp)
            return self._top(rows, scores, top_k)

    def articles_matching(self, filters: Filters) -> np.ndarray | None:
        """A mask over article ordinals of those the filters admit (None: no filter)."""
        if filters.empty:
            return None
        with self._lock:
            allowed = np.ones(len(self._article_ids), dtype=bool)
            if filters.sources is not None:
                wanted = {s.casefold() for s in filters.sources}
                allowed &= np.array([s in wanted for s in self._sources], dtype=bool)
            # An undated article passes no date filter: nothing shows it is in range.
            if filters.published_after is not None:
                allowed &= self._published[: len(allowed)] >= filters.published_after
            if filters.published_before is not None:
                allowed &= self._published[: len(allowed)] <= filters.published_before
            days = np.array(self._days, dtype="<U10")
            if filters.after_day is not None:
                allowed &= days >= filters.after_day  # "" (undated) sorts first: excluded
            if filters.before_day is not None:
                allowed &= (days != "") & (days <= filters.before_day)
            return allowed

    def candidates(
        self, query: np.ndarray, claim: str, pool: int, allowed: np.ndarray | None = None
    ) -> list[tuple[Key, float, float, float]]:
        """(key, cosine, bm25, context cosine) of each candidate (see candidate_table)."""
        c = self.candidate_table(query, claim, pool, allowed)
        return [
            (key, float(a), float(b), float(x))
            for key, a, b, x in zip(c.keys, c.cosine, c.bm25, c.context, strict=True)
        ]

    def candidate_table(
        self, query: np.ndarray, claim: str, pool: int, allowed: np.ndarray | None = None
    ) -> Candidates:
        """The union of the pool best statements by cosine and by BM25, among the articles
        ``allowed`` admits (a mask over article ordinals), with every score the evidence
        model reads (service.core.features).

        Every score is exact for every candidate: a statement found by cosine similarity
        keeps its full BM25 score even when it is outside the lexical top.
        """
        with self._lock:
            used = self._used
            query = query.astype(np.float32)
            mask = self._alive[:used]  # read only, unless a filter narrows it (a copy then)
            if allowed is not None:
                mask = mask.copy()
                # Articles synced in after the mask was made are not admitted.
                missing = len(self._article_ids) - len(allowed)
                allowed = np.concatenate([allowed, np.zeros(max(missing, 0), dtype=bool)])
                mask &= allowed[self._row_article[:used]]
            live = int(mask.sum()) if allowed is not None else self._live
            dense = self._dense_rows(query, min(pool, live), mask, allowed is not None)
            # IDF and average length stay those of the whole index, filtered or not.
            only = mask if allowed is not None else None
            # The stamp lets common terms' weights be reused until the next write.
            rows, scores = self.lexical.search(
                claim, self._alive, self._live, only, self._mutations
            )
            picked = np.union1d(dense, rows[top_rows(scores, pool)]).astype(np.int64)
            before, after = self._neighbour(picked, -1), self._neighbour(picked, 1)
            # One read for the candidates and both their neighbours: adjacent rows, so a
            # mapped base reads them as runs (Vectors.take), not a row at a time.
            mine, *beside_vectors = np.split(
                self._vectors.take(np.concatenate([picked, before, after])), 3
            )
            cosine = mine @ query
            lexical = np.zeros(len(picked), dtype=np.float32)
            at, found = find_sorted(rows, picked)  # BM25 rows come sorted
            lexical[found] = scores[at[found]]
            terms = list(dict.fromkeys(tokenize(claim)))
            idf = self.lexical.idf(terms, self._live)
            # One pass over the postings for the candidates and both their neighbours.
            own, *beside = np.split(
                self.lexical.matches(terms, np.concatenate([picked, before, after])), 3
            )
            window = own | beside[0] | beside[1]
            # Per article (title, then any statement), computed once for each article met.
            articles, slot = np.unique(self._row_article[picked], return_inverse=True)
            titles = [self._title(o) for o in articles.tolist()]  # once an article, not a term
            in_title = np.array(
                [[t in title for t in terms] for title in titles], dtype=bool
            ).reshape(len(articles), len(terms))
            in_article = self._article_matches(terms, articles) | in_title
            in_title = in_title[slot] | own
            in_article = in_article[slot] | own
            known = self.lexical.matches_anywhere(terms)
            wanted = name_terms(claim)
            names = np.array([t in wanted for t in terms], dtype=bool)
            return Candidates(
                keys=[self._key(int(r)) for r in picked],
                cosine=cosine,
                bm25=lexical,
                context=_with_neighbour(picked, before, mine, beside_vectors[0], cosine, query),
                next_context=_with_neighbour(picked, after, mine, beside_vectors[1], cosine, query),
                window_coverage=coverage(window, idf),
                article=slot,
                coverage=coverage(own, idf),
                title_coverage=coverage(in_title, idf),
                article_coverage=coverage(in_article, idf),
                name_coverage=(
                    coverage(in_article[:, names], idf[names])
                    if names.any()
                    else np.ones(len(picked))
                ),
                known=float(coverage(known[None, :], idf)[0]) if terms else 1.0,
                vectors=mine,
            )

    def _article_matches(self, terms: list[str], ordinals: np.ndarray) -> np.ndarray:
        """Per article ordinal: which terms occur in any of its statements.

        An article's rows are one ascending run (appended together, and compaction keeps
        their order), so a term is in it when its postings hold a row in that range: two
        binary searches per article and term, whatever the article's length.
        """
        out = np.zeros((len(ordinals), len(terms)), dtype=bool)
        runs = [self._rows.get(self._article_ids[o]) for o in ordinals]
        first = np.array([r[0] if r is not None and len(r) else 0 for r in runs], np.int64)
        last = np.array([r[-1] if r is not None and len(r) else -1 for r in runs], np.int64)
        for j, term in enumerate(terms):
            postings = self.lexical.get(term)
            if postings is None:
                continue
            posted, _ = postings.arrays()
            out[:, j] = np.searchsorted(posted, last, "right") > np.searchsorted(posted, first)
        return out

    def _neighbour(self, rows: np.ndarray, step: int) -> np.ndarray:
        """Each row's neighbour in its article (step -1: the statement before it, 1: the one
        after), or the row itself where it has none."""
        used = self._used
        other = np.clip(rows + step, 0, max(used - 1, 0))
        has = (rows + step >= 0) & (rows + step < used)
        has &= self._alive[other] & (self._row_article[other] == self._row_article[rows])
        has &= self._row_position[other] == self._row_position[rows] + step
        return np.where(has, other, rows)

    def vectors_of(self, keys: list[Key]) -> np.ndarray:
        """The stored unit vectors of given statements (zeros for unknown ones)."""
        with self._lock:
            out = np.zeros((len(keys), self.dimension), dtype=np.float32)
            rows = [self._row_of(key) for key in keys]
            known = np.array([r is not None for r in rows], dtype=bool)
            if known.any():
                out[known] = self._vectors.take(np.array([r for r in rows if r is not None]))
            return out

    def _row_of(self, key: Key) -> int | None:
        rows = self._rows.get(key[0])
        return int(rows[key[1]]) if rows is not None and key[1] < len(rows) else None

    def _top(self, rows: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[Key, float]]:
        top = top_rows(scores, k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._key(int(rows[i])), float(scores[i])) for i in top]

    def stats(self) -> IndexStats:
        with self._lock:
            return IndexStats(articles=len(self._rows), statements=self._live, version=self.version)


def _with_neighbour(
    rows: np.ndarray,
    other: np.ndarray,
    mine: np.ndarray,
    beside: np.ndarray,
    own: np.ndarray,
    query: np.ndarray,
) -> np.ndarray:
    """Cosine of the query with each statement (vectors ``mine``, cosines ``own``) read
    together with another (``beside``: the normalised sum of both vectors); where the other
    is the row itself, its own cosine."""
    has = other != rows
    joint = np.einsum("ij,ij->i", mine, beside)
    norm = np.sqrt(np.maximum(2.0 + 2.0 * joint, 1e-12))
    paired = (own + np.where(has, beside @ query, 0.0)) / norm
    return np.where(has, paired, own)
