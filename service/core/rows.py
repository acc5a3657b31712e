"""How the index keeps its rows: statement vectors, who each row belongs to, the articles'
filter fields and the BM25 postings; appends, deletions, compaction, and the state a
snapshot saves and maps back in (``service.core.snapshot``).

Rows are appended and never reused, so postings of a deleted row can simply be masked; when
dead rows outnumber live ones the arrays are compacted in one pass. Vectors mapped from a
snapshot are never written: rows appended after it go to an in-memory tail.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.core.ann import statement_key
from service.core.filters import local_day, timestamp
from service.core.lexical import BM25, LexicalState, tokenize
from service.types import IndexData

INITIAL = 1024
# Up to this many rows of a mapped base are read with pread (see Vectors); more go through
# the mapping, where one copy beats thousands of system calls.
PREAD_MAX_ROWS = 4096


class Vectors:
    """Row vectors: a read-only base (a snapshot's mapped file) and a growable tail.

    A few rows of a mapped base (a check's candidates) are read with ``pread``, not through
    the mapping: every page a process touches in a mapping counts in its memory, and the
    kernel maps the cached pages around each touched one too, so 300 checks at 1M statements
    had mapped 1,075 MB of the 1.5 GB file into a worker while reading ~90 MB of rows
    (docs/benchmarks.md). Read, the rows stay in the page cache, shared and reclaimable, not
    in any process. Bulk reads (a scan, a build, a compaction) still go through the mapping.
    """

    def __init__(self, dimension: int, base: np.ndarray | None = None) -> None:
        self.base = np.zeros((0, dimension), np.float32) if base is None else base
        self.tail = np.zeros((INITIAL, dimension), dtype=np.float32)
        self._file = _RowFile.of(self.base)

    @property
    def start(self) -> int:
        """The first row kept in the tail."""
        return len(self.base)

    @property
    def capacity(self) -> int:
        return self.start + len(self.tail)

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        start = self.start
        if start == 0:
            return self.tail[rows]
        out = np.empty((len(rows), self.tail.shape[1]), dtype=np.float32)
        low = rows < start
        if self._file is not None and int(low.sum()) <= PREAD_MAX_ROWS:
            out[low] = self._file.read(rows[low])
        else:
            out[low] = self.base[rows[low]]
        out[~low] = self.tail[rows[~low] - start]
        return out

    def dot_all(self, used: int, query: np.ndarray) -> np.ndarray:
        """Cosine of the query with rows [0, used), without copying the mapped base."""
        start = self.start
        if start == 0:
            return self.tail[:used] @ query
        return np.concatenate([self.base[:used] @ query, self.tail[: max(used - start, 0)] @ query])

    def put(self, rows: np.ndarray, values: np.ndarray) -> None:
        self.tail[rows - self.start] = values  # appended rows are always past the base

    def grow(self, capacity: int) -> None:
        self.tail = _resized(self.tail, capacity - self.start)

    def upto(self, used: int) -> list[np.ndarray]:
        """Views of rows [0, used) in order (stable: written rows never change)."""
        start = self.start
        return [self.base[:used], self.tail[: max(used - start, 0)]]


class _RowFile:
    """The rows of a mapped ``.npy`` matrix, read with ``pread`` (thread- and fork-safe: no
    shared file position)."""

    def __init__(self, fd: int, offset: int, width: int, dimension: int) -> None:
        self.fd, self.offset, self.width, self.dimension = fd, offset, width, dimension
        weakref.finalize(self, os.close, fd)

    @classmethod
    def of(cls, base: np.ndarray) -> _RowFile | None:
        """For a C-ordered float32 memmap of a file still there; None otherwise (the mapping
        is then read as it is, which is always correct)."""
        if not isinstance(base, np.memmap) or not base.filename or len(base) == 0:
            return None
        if base.dtype != np.float32 or not base.flags.c_contiguous or base.ndim != 2:
            return None
        try:
            # Generation folders are never reused, and a published file never changes.
            fd = os.open(base.filename, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # removed by a newer generation since it was mapped
            return None
        return cls(fd, int(base.offset), base.shape[1] * 4, base.shape[1])

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        view = out.data.cast("B")
        width = self.width
        for i, row in enumerate(rows.tolist()):
            got = os.preadv(self.fd, [view[i * width : (i + 1) * width]], self.offset + row * width)
            if got != width:
                raise OSError(f"short read of row {row}: {got} of {width} bytes")
        return out


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
        self._alive = _resized(self._alive, capacity)
        self._row_article = _resized(self._row_article, capacity)
        self._row_position = _resized(self._row_position, capacity)
        self._keys = _resized(self._keys, capacity)
        self._covered = _resized(self._covered, capacity)

    def _compact(self) -> None:
        alive = self._alive[: self._used]
        old_rows = np.flatnonzero(alive)
        remap = np.zeros(self._used, dtype=np.int64)
        remap[old_rows] = np.arange(len(old_rows))
        self.lexical.compact(alive, remap, len(old_rows))
        capacity = max(INITIAL, 2 * len(old_rows))
        vectors = Vectors(self.dimension)  # in memory again: a mapped base is left behind
        vectors.tail = _resized(self._vectors.take(old_rows), capacity)
        self._vectors = vectors
        self._row_article = _resized(self._row_article[old_rows], capacity)
        self._row_position = _resized(self._row_position[old_rows], capacity)
        self._keys = _resized(self._keys[old_rows], capacity)
        self._covered = _resized(self._covered[old_rows], capacity)
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
            self._alive = _resized(state.alive, capacity)
            self._row_article = _resized(state.row_article, capacity)
            self._row_position = _resized(state.row_position, capacity)
            self._keys = _resized(state.keys, capacity)
            self._covered = np.zeros(capacity, dtype=bool)
            self._article_ids = list(state.article_ids)
            self._ordinals = {a: o for o, a in enumerate(self._article_ids)}
            self._sources = list(state.sources)
            self._titles = list(state.titles)
            self._published = _resized(state.published, max(INITIAL, 2 * len(state.published)))
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


def _resized(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    n = min(len(array), capacity)
    out[:n] = array[:n]
    return out
