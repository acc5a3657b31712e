"""Lexical side of the index: an incremental BM25 inverted index (tokens come from tokens.py).

Why not bm25s here: it builds a static matrix, while the service must take single-article
additions and deletions from the change feed without a full rebuild. bm25s stays the
baseline the evaluation compares against, and its English stop-word list is used here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.core.tokens import tokenize
from service.core.weights import TermWeights


class Postings:
    """Rows and term frequencies of one term.

    Additions go to Python lists and become numpy arrays when the term is next searched:
    writing numpy scalars one by one made loading 100k statements at start take seconds.
    """

    __slots__ = ("_new_rows", "_new_tfs", "_rows", "_tfs")

    def __init__(self, rows: np.ndarray | None = None, tfs: np.ndarray | None = None) -> None:
        # Possibly views of a snapshot's mapped table: never written in place, only replaced.
        self._rows = np.zeros(0, dtype=np.int64) if rows is None else rows
        self._tfs = np.zeros(0, dtype=np.float32) if tfs is None else tfs
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


@dataclass
class LexicalState:
    """BM25's postings as one table (terms in order, each term's run of rows and term
    frequencies), its row lengths and total length: what a snapshot saves."""

    terms: list[str]
    offsets: np.ndarray  # int64, len(terms) + 1: term i's postings are [offsets[i], offsets[i+1])
    rows: np.ndarray  # int64
    tfs: np.ndarray  # float32
    lengths: np.ndarray  # float32, per row
    total_length: float


class BM25:
    """BM25 (k1, b) over rows; rows are never reused, dead rows are filtered by a mask.

    Terms come from ``postings`` (met since the start) or, when the index was restored from a
    snapshot, from its mapped table; a term is moved into ``postings`` when first looked up.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, Postings] = {}
        self.lengths = np.zeros(1024, dtype=np.float32)
        self.total_length = 0.0
        self._table: LexicalState | None = None
        self._slots: dict[str, int] = {}  # term -> its slot in _table
        self.weights = TermWeights()  # common terms' weights, while the index's stamp holds

    @classmethod
    def restored(cls, state: LexicalState) -> BM25:
        bm25 = cls()
        bm25._table = state
        bm25._slots = dict(zip(state.terms, range(len(state.terms)), strict=True))
        bm25.lengths = np.array(state.lengths, dtype=np.float32)  # written to: a private copy
        if len(bm25.lengths) < 1024:
            bm25.lengths = np.resize(bm25.lengths, 1024)
        bm25.total_length = state.total_length
        return bm25

    def get(self, term: str) -> Postings | None:
        """A term's postings (None: no row ever had it)."""
        postings = self.postings.get(term)
        if postings is None and self._table is not None:
            slot = self._slots.get(term)
            if slot is not None:
                t = self._table
                start, end = int(t.offsets[slot]), int(t.offsets[slot + 1])
                postings = self.postings[term] = Postings(t.rows[start:end], t.tfs[start:end])
        return postings

    def count(self, term: str) -> int:
        postings = self.postings.get(term)
        if postings is not None:
            return postings.count
        slot = self._slots.get(term)
        if slot is None or self._table is None:
            return 0
        return int(self._table.offsets[slot + 1] - self._table.offsets[slot])

    def has(self, term: str) -> bool:
        return term in self.postings or term in self._slots

    def add(self, row: int, text: str) -> None:
        self.weights.drop()  # rows and lengths change: no kept weight holds
        tokens = tokenize(text)
        if row >= len(self.lengths):
            self.lengths = np.resize(self.lengths, max(row + 1, 2 * len(self.lengths)))
        self.lengths[row] = len(tokens)
        self.total_length += len(tokens)
        counts: dict[str, int] = {}
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
        for token, tf in counts.items():
            postings = self.get(token)
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

    def capture(self, used: int) -> Callable[[], LexicalState]:
        """A function making this index's LexicalState (rows [0, used)), to call outside the
        lock: the arrays it reads are never changed in place, only replaced."""
        self.settle()
        own = {term: p.arrays() for term, p in self.postings.items()}
        table, slots = self._table, self._slots
        lengths, total = self.lengths[:used].copy(), self.total_length

        def make() -> LexicalState:
            terms = sorted(own.keys() | slots.keys())
            parts_rows, parts_tfs = [], []
            counts = np.zeros(len(terms), dtype=np.int64)
            for i, term in enumerate(terms):
                if term in own:
                    rows, tfs = own[term]
                else:
                    assert table is not None
                    slot = slots[term]
                    start, end = int(table.offsets[slot]), int(table.offsets[slot + 1])
                    rows, tfs = table.rows[start:end], table.tfs[start:end]
                parts_rows.append(rows)
                parts_tfs.append(tfs)
                counts[i] = len(rows)
            offsets = np.zeros(len(terms) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            empty_rows, empty_tfs = np.zeros(0, np.int64), np.zeros(0, np.float32)
            return LexicalState(
                terms=terms,
                offsets=offsets,
                rows=np.concatenate([empty_rows, *parts_rows]).astype(np.int64, copy=False),
                tfs=np.concatenate([empty_tfs, *parts_tfs]).astype(np.float32, copy=False),
                lengths=lengths,
                total_length=total,
            )

        return make

    def forget(self, rows: np.ndarray | range) -> None:
        self.weights.drop()
        self.total_length -= float(self.lengths[rows].sum())

    def compact(self, alive: np.ndarray, remap: np.ndarray, new_size: int) -> None:
        self.weights.drop()
        for term in list(self._slots):  # every term into memory: the table's rows are remapped
            self.get(term)
        self._table, self._slots = None, {}
        for term in list(self.postings):
            self.postings[term].keep(alive, remap)
            if self.postings[term].count == 0:
                del self.postings[term]
        lengths = np.zeros(max(new_size, 1024), dtype=np.float32)
        old_rows = np.flatnonzero(alive)
        lengths[remap[old_rows]] = self.lengths[old_rows]
        self.lengths = lengths

    def search(
        self,
        query: str,
        alive: np.ndarray,
        live_count: int,
        only: np.ndarray | None = None,
        stamp: object = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of every live row sharing a term with the query, unsorted.

        ``only`` (a row mask) restricts the rows returned; document frequencies stay those of
        all live rows, so that a filter does not change how rare a term looks. ``stamp``
        (None: no caching) names the state of the rows, lengths and liveness: while it is
        unchanged, the weights of a common term are reused from an earlier search.
        """
        terms = dict.fromkeys(tokenize(query))
        if not terms or live_count == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        self.weights.at(stamp)
        avg = max(self.total_length / live_count, 1.0)
        all_rows, all_scores = [], []
        for term in terms:
            cached = self.weights.get(term)
            if cached is None:
                cached = self._term_weights(term, alive, live_count, avg)
                if cached is None:
                    continue
                self.weights.keep(term, cached)
            rows, weights = cached
            if only is not None:
                wanted = only[rows]
                rows, weights = rows[wanted], weights[wanted]
            if len(rows) == 0:
                continue
            all_rows.append(rows)
            all_scores.append(weights)
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
        # Through a boolean mask: nonzero() over 1M float64 took ~4.6 ms, the mask ~1 ms.
        unique = np.flatnonzero(summed != 0)
        return unique, summed[unique].astype(np.float32)

    def _term_weights(
        self, term: str, alive: np.ndarray, live_count: int, avg: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's live rows and their BM25 weights (None: no row ever had it)."""
        p = self.get(term)
        if p is None:
            return None
        rows, tfs = p.arrays()
        live = alive[rows]
        rows, tfs = rows[live], tfs[live]
        df = len(rows)
        idf = math.log(1 + (live_count - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1 - self.b + self.b * self.lengths[rows] / avg)
        return rows, idf * tfs * (self.k1 + 1) / (tfs + norm)

    def idf(self, terms: list[str], live_count: int) -> np.ndarray:
        """BM25's idf of each term; a term no statement has gets the idf of a count of 0.

        Document counts include rows deleted since the last compaction: close enough for a
        weight, and it spares a pass over the postings.
        """
        counts = np.array([self.count(t) for t in terms], dtype=np.float64)
        live = max(live_count, 1)
        return np.log(1 + (live - counts + 0.5) / (counts + 0.5)).clip(min=0.0)

    def matches(self, terms: list[str], rows: np.ndarray) -> np.ndarray:
        """(len(rows), len(terms)) booleans: does the row contain the term?

        Postings rows are ascending (rows are appended, and compaction keeps their order), so
        each term costs a binary search per row.
        """
        out = np.zeros((len(rows), len(terms)), dtype=bool)
        for j, term in enumerate(terms):
            p = self.get(term)
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
        return np.array([self.has(t) for t in terms], dtype=bool)
