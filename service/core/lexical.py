"""Lexical side of the index: tokenisation and an incremental BM25 inverted index.

Why not bm25s here: it builds a static matrix, while the service must take single-article
additions and deletions from the change feed without a full rebuild. bm25s stays the
baseline the evaluation compares against, and its English stop-word list is used here too.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_TOKEN = re.compile(r"\w+")
_STOP = frozenset(STOPWORDS_EN) | {"s", "t", "said", "says", "say"}
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def fold(text: str) -> str:
    """Lower-case, strip accents and fold typographic apostrophes."""
    text = text.lower()
    if text.isascii():  # nothing to decompose: skip the per-character pass (start-up time)
        return text
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(c for c in text if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """Stemmed content words of a text (stop words and one-letter tokens dropped)."""
    words = _TOKEN.findall(fold(text))
    return [_stem(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())]


class Postings:
    """Rows and term frequencies of one term.

    Additions go to Python lists and become numpy arrays when the term is next searched:
    writing numpy scalars one by one made loading 100k statements at start take seconds.
    """

    __slots__ = ("_new_rows", "_new_tfs", "_rows", "_tfs")

    def __init__(self) -> None:
        self._rows = np.zeros(0, dtype=np.int64)
        self._tfs = np.zeros(0, dtype=np.float32)
        self._new_rows: list[int] = []
        self._new_tfs: list[int] = []

    def add(self, row: int, tf: int) -> None:
        self._new_rows.append(row)
        self._new_tfs.append(tf)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, term frequencies), in the order added."""
        if self._new_rows:
            self._rows = np.concatenate([self._rows, np.array(self._new_rows, dtype=np.int64)])
            self._tfs = np.concatenate([self._tfs, np.array(self._new_tfs, dtype=np.float32)])
            self._new_rows, self._new_tfs = [], []
        return self._rows, self._tfs

    @property
    def count(self) -> int:
        return len(self._rows) + len(self._new_rows)

    def keep(self, mask_alive: np.ndarray, remap: np.ndarray) -> None:
        rows, tfs = self.arrays()
        live = mask_alive[rows]
        self._rows, self._tfs = remap[rows[live]], tfs[live].copy()


class BM25:
    """BM25 (k1, b) over rows; rows are never reused, dead rows are filtered by a mask."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, Postings] = {}
        self.lengths = np.zeros(1024, dtype=np.float32)
        self.total_length = 0.0

    def add(self, row: int, text: str) -> None:
        tokens = tokenize(text)
        if row >= len(self.lengths):
            self.lengths = np.resize(self.lengths, max(row + 1, 2 * len(self.lengths)))
        self.lengths[row] = len(tokens)
        self.total_length += len(tokens)
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        for token, tf in counts.items():
            postings = self.postings.get(token)
            if postings is None:  # not setdefault: that built a Postings for every call
                postings = self.postings[token] = Postings()
            postings.add(row, tf)

    def settle(self) -> None:
        """Turn every term's pending additions into arrays now.

        Called after a full load, which under gunicorn's preload happens in the master: the
        arrays are then made once and shared by every worker, instead of each worker making
        private copies of the terms it meets (at 1M statements each worker grew by ~550 MB
        under load, and the first check to meet a common term paid its conversion).
        """
        for postings in self.postings.values():
            postings.arrays()

    def forget(self, rows: np.ndarray) -> None:
        self.total_length -= float(self.lengths[rows].sum())

    def compact(self, alive: np.ndarray, remap: np.ndarray, new_size: int) -> None:
        for term in list(self.postings):
            self.postings[term].keep(alive, remap)
            if self.postings[term].count == 0:
                del self.postings[term]
        lengths = np.zeros(max(new_size, 1024), dtype=np.float32)
        old_rows = np.flatnonzero(alive)
        lengths[remap[old_rows]] = self.lengths[old_rows]
        self.lengths = lengths

    def search(
        self, query: str, alive: np.ndarray, live_count: int, only: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of every live row sharing a term with the query, unsorted.

        ``only`` (a row mask) restricts the rows returned; document frequencies stay those of
        all live rows, so that a filter does not change how rare a term looks.
        """
        terms = dict.fromkeys(tokenize(query))
        if not terms or live_count == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        avg = max(self.total_length / live_count, 1.0)
        all_rows, all_scores = [], []
        for term in terms:
            p = self.postings.get(term)
            if p is None:
                continue
            rows, tfs = p.arrays()
            live = alive[rows]
            rows, tfs = rows[live], tfs[live]
            df = len(rows)
            if only is not None:
                wanted = only[rows]
                rows, tfs = rows[wanted], tfs[wanted]
            if len(rows) == 0:
                continue
            idf = math.log(1 + (live_count - df + 0.5) / (df + 0.5))
            norm = self.k1 * (1 - self.b + self.b * self.lengths[rows] / avg)
            all_rows.append(rows)
            all_scores.append(idf * tfs * (self.k1 + 1) / (tfs + norm))
        if not all_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, weights = np.concatenate(all_rows), np.concatenate(all_scores)
        span = int(rows.max()) + 1
        if len(rows) * 8 < span:  # few matches: sorting them beats a pass over every row
            unique, inverse = np.unique(rows, return_inverse=True)
            return unique, np.bincount(inverse, weights=weights).astype(np.float32)
        # Common terms match a large share of the rows (at 1M statements, sorting ~240k
        # matches was 70% of a check): sum into one slot a row instead. Every BM25 term
        # score is > 0, so the non-zero slots are exactly the matched rows, in order.
        summed = np.bincount(rows, weights=weights, minlength=span)
        unique = np.flatnonzero(summed)
        return unique, summed[unique].astype(np.float32)

    def idf(self, terms: list[str], live_count: int) -> np.ndarray:
        """BM25's idf of each term; a term no statement has gets the idf of a count of 0.

        Document counts include rows deleted since the last compaction: close enough for a
        weight, and it spares a pass over the postings.
        """
        counts = np.array(
            [self.postings[t].count if t in self.postings else 0 for t in terms], dtype=np.float64
        )
        live = max(live_count, 1)
        return np.log(1 + (live - counts + 0.5) / (counts + 0.5)).clip(min=0.0)

    def matches(self, terms: list[str], rows: np.ndarray) -> np.ndarray:
        """(len(rows), len(terms)) booleans: does the row contain the term?

        Postings rows are ascending (rows are appended, and compaction keeps their order), so
        each term costs a binary search per row.
        """
        out = np.zeros((len(rows), len(terms)), dtype=bool)
        for j, term in enumerate(terms):
            p = self.postings.get(term)
            if p is None or not len(rows):
                continue
            posted, _ = p.arrays()
            if not len(posted):
                continue
            at = np.minimum(np.searchsorted(posted, rows), len(posted) - 1)
            out[:, j] = posted[at] == rows
        return out

    def matches_anywhere(self, terms: list[str]) -> np.ndarray:
        """Per term: does any statement (live, or deleted since the last compaction) hold it?"""
        return np.array([t in self.postings for t in terms], dtype=bool)
