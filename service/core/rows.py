"""How the index keeps its rows: statement vectors, who each row belongs to, the articles'
filter fields and the BM25 postings; appends, deletions, compaction, and the state a
snapshot saves and maps back in (``service.core.snapshot``).

Rows are appended and never reused, so postings of a deleted row can simply be masked; when
dead rows outnumber live ones the arrays are compacted in one pass. Vectors mapped from a
snapshot are never written: rows appended after it go to an in-memory tail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.core.ann import statement_key
from service.core.filters import local_day, timestamp
from service.core.lexical import BM25, LexicalState
from service.core.tokens import tokenize
from service.core.vectors import INITIAL, Vectors, resized
from service.types import IndexData


@dataclass
class RowState:
    """Everything an index holds of its rows, as plain arrays and lists (a snapshot's body)."""

    vectors: list[np.ndarray]  # row vectors, in order, in one or more parts
    alive: np.ndarray
    row_article: np.ndarray
    row_position: np.ndarray
    keys: np.ndarray
    article_ids: list[str]
    sources: list[str | None]
    titles: list[str]  # each title's terms joined by spaces
    published: np.ndarray
    days: list[str]
    run_first: np.ndarray  # per ordinal: its first row, and count (-1: deleted)
    run_count: np.ndarray
    live: int
    # Saved: the table itself; captured: a function making it (called outside the lock).
    lexical: LexicalState | Callable[[], LexicalState]


class StatementRows:
    """The rows of an index and their writes (searches: ``service.core.index``)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        """Empty the index (also what a full reload starts from)."""
        self._vectors = Vectors(self.dimension)
        self._alive = np.zeros(INITIAL, dtype=bool)
        self._row_article = np.zeros(INITIAL, dtype=np.int64)  # ordinal into _article_ids
        self._row_position = np.zeros(INITIAL, dtype=np.int64)
        self._article_ids: list[str] = []
        self._ordinals: dict[str, int] = {}
        # Per article ordinal: outlet (case-folded) and publication time, for filters.
        self._sources: list[str | None] = []
        # The title's terms, read with each statement; restored as the snapshot's strings and
        # made sets when first read (100k sets at start cost a second at 1M statements).
        self._titles: list[frozenset[str] | str] = []
        self._published = np.zeros(0, dtype=np.float64)
        self._days: list[str] = []  # the publication date as written (its own time zone)
        # Article id -> its rows, one ascending run (a range when restored: cheaper to make).
        self._rows: dict[str, np.ndarray | range] = {}
        self._keys = np.zeros(INITIAL, dtype=np.uint64)  # row -> statement key (core.ann)
        self._used = 0
        self._live = 0
        self._mutations = 0  # bumped by every write; keys the cached entry mask
        self.lexical = BM25()
        self.version = 0
        self._detach()

    def _title(self, ordinal: int) -> frozenset[str]:
        title = self._titles[ordinal]
        if isinstance(title, str):
            title = self._titles[ordinal] = frozenset(title.split())
        return title

    def _detach(self) -> None:
        """Forget the approximate index (service.core.dense attaches one)."""
        self._covered = np.zeros(len(self._alive), dtype=bool)

    def _compacted(self, alive: np.ndarray, remap: np.ndarray) -> None:
        """Hook: rows were remapped (the approximate index's entries follow them)."""

    # -- writes -------------------------------------------------------------------------
    def replace(self, article_id: str, data: IndexData) -> None:
        """Set an article's statements (row i = position i), dropping its old ones."""
        with self._lock:
            self.remove(article_id)
            count = len(data.texts)
            if count and data.vectors.shape[1] != self.dimension:
                raise ValueError(
                    f"vectors of dimension {data.vectors.shape[1]} in an index of "
                    f"{self.dimension}: the store was filled with another model"
                )
            if self._used + count > len(self._alive):
                self._grow(self._used + count)
            rows = np.arange(self._used, self._used + count)
            self._used += count
            self._live += count
            ordinal = self._ordinals.setdefault(article_id, len(self._article_ids))
            if ordinal == len(self._article_ids):
                self._article_ids.append(article_id)
                self._sources.append(None)
                self._titles.append(frozenset())
                if ordinal == len(self._published):
                    # Doubling, not np.append per article: that copied the whole array for
                    # every article, quadratic in the number of articles at start.
                    grown = np.full(max(INITIAL, 2 * ordinal), np.nan)
                    grown[:ordinal] = self._published
                    self._published = grown
                self._days.append("")
            self._sources[ordinal] = data.source.casefold() if data.source else None
            self._titles[ordinal] = frozenset(tokenize(data.title or ""))
            self._published[ordinal] = timestamp(data.published_at)
            self._days[ordinal] = local_day(data.published_at)
            if count:  # an article without statements has (0, 0) vectors from the store
                self._vectors.put(rows, data.vectors)
            self._alive[rows] = True
            self._row_article[rows] = ordinal
            self._row_position[rows] = np.arange(count)
            for position, (row, text) in enumerate(zip(rows, data.texts, strict=True)):
                self.lexical.add(int(row), text)
                self._keys[row] = statement_key(article_id, position, text)
            self._rows[article_id] = rows
            self._mutations += 1

    def remove(self, article_id: str) -> None:
        with self._lock:
            rows = self._rows.pop(article_id, None)
            if rows is None:
                return
            self._alive[rows] = False
            self._live -= len(rows)
            self._mutations += 1
            self.lexical.forget(rows)
            if self._used - self._live > max(self._live, 4096):
                self._compact()

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self._alive))
        self._vectors.grow(capacity)
        self._alive = resized(self._alive, capacity)
        self._row_article = resized(self._row_article, capacity)
        self._row_position = resized(self._row_position, capacity)
        self._keys = resized(self._keys, capacity)
        self._covered = resized(self._covered, capacity)

    def _compact(self) -> None:
        alive = self._alive[: self._used]
        old_rows = np.flatnonzero(alive)
        remap = np.zeros(self._used, dtype=np.int64)
        remap[old_rows] = np.arange(len(old_rows))
        self.lexical.compact(alive, remap, len(old_rows))
        capacity = max(INITIAL, 2 * len(old_rows))
        vectors = Vectors(self.dimension)  # in memory again: a mapped base is left behind
        vectors.tail = resized(self._vectors.take(old_rows), capacity)
        self._vectors = vectors
        self._row_article = resized(self._row_article[old_rows], capacity)
        self._row_position = resized(self._row_position[old_rows], capacity)
        self._keys = resized(self._keys[old_rows], capacity)
        self._covered = resized(self._covered[old_rows], capacity)
        self._compacted(alive, remap)
        self._alive = np.zeros(capacity, dtype=bool)
        self._alive[: len(old_rows)] = True
        self._rows = {a: remap[np.asarray(r, dtype=np.int64)] for a, r in self._rows.items()}
        self._used = len(old_rows)

    # -- snapshots (service.core.snapshot) ----------------------------------------------
    def capture(self) -> RowState:
        """The rows as they stand, cheaply (call under the lock): written rows never change,
        so views of them stay true while writes go on; what does change is copied."""
        used, ordinals = self._used, len(self._article_ids)
        first = np.zeros(ordinals, dtype=np.int64)
        count = np.full(ordinals, -1, dtype=np.int64)
        for article_id, rows in self._rows.items():
            o = self._ordinals[article_id]
            first[o], count[o] = (rows[0] if len(rows) else 0), len(rows)
        return RowState(
            vectors=self._vectors.upto(used),
            alive=self._alive[:used].copy(),
            row_article=self._row_article[:used],
            row_position=self._row_position[:used],
            keys=self._keys[:used],
            article_ids=list(self._article_ids),
            sources=list(self._sources),
            titles=[t if isinstance(t, str) else " ".join(sorted(t)) for t in self._titles],
            published=self._published[:ordinals].copy(),
            days=list(self._days),
            run_first=first,
            run_count=count,
            live=self._live,
            lexical=self.lexical.capture(used),
        )

    def restore(self, state: RowState) -> None:
        """Become the index a snapshot saved (its vectors stay mapped, never copied)."""
        with self._lock:
            self._reset()
            used = len(state.alive)
            capacity = max(INITIAL, used + used // 8)
            (base,) = state.vectors
            self._vectors = Vectors(self.dimension, base)
            self._vectors.grow(capacity)
            self._alive = resized(state.alive, capacity)
            self._row_article = resized(state.row_article, capacity)
            self._row_position = resized(state.row_position, capacity)
            self._keys = resized(state.keys, capacity)
            self._covered = np.zeros(capacity, dtype=bool)
            self._article_ids = list(state.article_ids)
            self._ordinals = {a: o for o, a in enumerate(self._article_ids)}
            self._sources = list(state.sources)
            self._titles = list(state.titles)
            self._published = resized(state.published, max(INITIAL, 2 * len(state.published)))
            self._published[len(state.published) :] = np.nan
            self._days = list(state.days)
            ids, first, count = self._article_ids, state.run_first, state.run_count
            self._rows = {
                ids[o]: range(f, f + c)
                for o, f, c in zip(range(len(ids)), first.tolist(), count.tolist(), strict=True)
                if c >= 0
            }
            self._used, self._live = used, state.live
            assert isinstance(state.lexical, LexicalState)
            self.lexical = BM25.restored(state.lexical)
            self._mutations += 1
