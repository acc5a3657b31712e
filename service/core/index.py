"""In-process statement index (dense vectors + BM25), kept current from a store.

Each worker holds its own copy. ``sync()`` asks the store which articles changed since the
version the index has applied and reloads just those, so a write through any worker becomes
visible to every worker at its next sync (each check syncs first).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from service.core.lexical import BM25
from service.store.base import IndexData, Store

Key = tuple[str, int]  # (article id, statement position)


@dataclass(frozen=True)
class IndexStats:
    articles: int
    statements: int
    version: int


class StatementIndex:
    """Rows of statements: unit vectors for cosine search and BM25 postings.

    Rows are appended and never reused, so postings of a deleted row can simply be masked;
    when dead rows outnumber live ones the arrays are compacted in one pass.
    """

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        """Empty the index (also what a full reload starts from)."""
        self._vectors = np.zeros((1024, self.dimension), dtype=np.float32)
        self._alive = np.zeros(1024, dtype=bool)
        self._row_article = np.zeros(1024, dtype=np.int64)  # ordinal into _article_ids
        self._row_position = np.zeros(1024, dtype=np.int64)
        self._article_ids: list[str] = []
        self._ordinals: dict[str, int] = {}
        # Per article ordinal: outlet (case-folded) and publication time, for filters.
        self._sources: list[str | None] = []
        self._published = np.zeros(0, dtype=np.float64)
        self._days: list[str] = []  # the publication date as written (its own time zone)
        self._rows: dict[str, np.ndarray] = {}  # article id -> its rows
        self._used = 0
        self._live = 0
        self.lexical = BM25()
        self.version = 0

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
                if ordinal == len(self._published):
                    # Doubling, not np.append per article: that copied the whole array for
                    # every article, quadratic in the number of articles at start.
                    grown = np.full(max(1024, 2 * ordinal), np.nan)
                    grown[:ordinal] = self._published
                    self._published = grown
                self._days.append("")
            self._sources[ordinal] = data.source.casefold() if data.source else None
            self._published[ordinal] = timestamp(data.published_at)
            self._days[ordinal] = local_day(data.published_at)
            if count:  # an article without statements has (0, 0) vectors from the store
                self._vectors[rows] = data.vectors
            self._alive[rows] = True
            self._row_article[rows] = ordinal
            self._row_position[rows] = np.arange(count)
            for row, text in zip(rows, data.texts, strict=True):
                self.lexical.add(int(row), text)
            self._rows[article_id] = rows

    def remove(self, article_id: str) -> None:
        with self._lock:
            rows = self._rows.pop(article_id, None)
            if rows is None:
                return
            self._alive[rows] = False
            self._live -= len(rows)
            self.lexical.forget(rows)
            if self._used - self._live > max(self._live, 4096):
                self._compact()

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * len(self._alive))
        self._vectors = _resized(self._vectors, capacity)
        self._alive = _resized(self._alive, capacity)
        self._row_article = _resized(self._row_article, capacity)
        self._row_position = _resized(self._row_position, capacity)

    def _compact(self) -> None:
        alive = self._alive[: self._used]
        old_rows = np.flatnonzero(alive)
        remap = np.zeros(self._used, dtype=np.int64)
        remap[old_rows] = np.arange(len(old_rows))
        self.lexical.compact(alive, remap, len(old_rows))
        capacity = max(1024, 2 * len(old_rows))
        self._vectors = _resized(self._vectors[old_rows], capacity)
        self._row_article = _resized(self._row_article[old_rows], capacity)
        self._row_position = _resized(self._row_position[old_rows], capacity)
        self._alive = np.zeros(capacity, dtype=bool)
        self._alive[: len(old_rows)] = True
        self._rows = {a: remap[r] for a, r in self._rows.items()}
        self._used = len(old_rows)

    # -- reads --------------------------------------------------------------------------
    def _key(self, row: int) -> Key:
        return self._article_ids[self._row_article[row]], int(self._row_position[row])

    def dense(self, query: np.ndarray, top_k: int) -> list[tuple[Key, float]]:
        """The top_k statements by cosine similarity to a unit query vector, best first."""
        with self._lock:
            scores = self._vectors[: self._used] @ query.astype(np.float32)
            scores[~self._alive[: self._used]] = -np.inf
            return self._top(np.arange(self._used), scores, min(top_k, self._live))

    def lexical_search(self, query: str, top_k: int) -> list[tuple[Key, float]]:
        """The top_k statements by BM25 score for the query's terms, best first."""
        with self._lock:
            rows, scores = self.lexical.search(query, self._alive, self._live)
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
        """(key, cosine, bm25, context cosine) of the union of the pool best statements by
        cosine and by BM25, among the articles ``allowed`` admits (a mask over article
        ordinals).

        Every score is exact for every candidate: a statement found by cosine similarity
        keeps its full BM25 score even when it is outside the lexical top.
        """
        with self._lock:
            used = self._used
            mask = self._alive.copy()
            if allowed is not None:
                # Articles synced in after the mask was made are not admitted.
                missing = len(self._article_ids) - len(allowed)
                allowed = np.concatenate([allowed, np.zeros(max(missing, 0), dtype=bool)])
                mask[:used] &= allowed[self._row_article[:used]]
            live = int(mask[:used].sum())
            cosine = self._vectors[:used] @ query.astype(np.float32)
            cosine[~mask[:used]] = -np.inf
            # IDF and average length stay those of the whole index, filtered or not.
            only = mask if allowed is not None else None
            rows, scores = self.lexical.search(claim, self._alive, self._live, only)
            bm25 = np.zeros(used, dtype=np.float32)
            bm25[rows] = scores
            picked = set(_top_rows(cosine, min(pool, live)).tolist())
            picked.update(rows[_top_rows(scores, pool)].tolist())
            ordered = np.array(sorted(picked), dtype=np.int64)
            context = self._with_previous(ordered, cosine)
            return [
                (self._key(int(r)), float(cosine[r]), float(bm25[r]), float(c))
                for r, c in zip(ordered, context, strict=True)
            ]

    def _with_previous(self, rows: np.ndarray, cosine: np.ndarray) -> np.ndarray:
        """Cosine of the query with each statement read together with the one before it
        (the normalised sum of both vectors); a first statement keeps its own cosine."""
        own = cosine[rows]
        prev = rows - 1
        has_prev = (rows > 0) & (self._row_position[rows] > 0)
        prev = np.where(has_prev, prev, rows)
        has_prev &= self._alive[prev] & (self._row_article[prev] == self._row_article[rows])
        joint = np.einsum("ij,ij->i", self._vectors[rows], self._vectors[prev])
        norm = np.sqrt(np.maximum(2.0 + 2.0 * joint, 1e-12))
        paired = (own + np.where(has_prev, cosine[prev], 0.0)) / norm
        return np.where(has_prev, paired, own)

    def vectors_of(self, keys: list[Key]) -> np.ndarray:
        """The stored unit vectors of given statements (zeros for unknown ones)."""
        with self._lock:
            out = np.zeros((len(keys), self.dimension), dtype=np.float32)
            for i, key in enumerate(keys):
                row = self._row_of(key)
                if row is not None:
                    out[i] = self._vectors[row]
            return out

    def _row_of(self, key: Key) -> int | None:
        rows = self._rows.get(key[0])
        return int(rows[key[1]]) if rows is not None and key[1] < len(rows) else None

    def _top(self, rows: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[Key, float]]:
        top = _top_rows(scores, k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._key(int(rows[i])), float(scores[i])) for i in top]

    def stats(self) -> IndexStats:
        with self._lock:
            return IndexStats(articles=len(self._rows), statements=self._live, version=self.version)


class SyncedIndex(StatementIndex):
    """A StatementIndex that follows a store's change sequence."""

    def __init__(self, store: Store, dimension: int) -> None:
        super().__init__(dimension)
        self.store = store
        self._sync_lock = threading.Lock()
        self.built = False
        self.head: str | None = None  # the article whose change carries self.version

    def rebuild(self) -> None:
        """Load every article. Changes made during the load are applied by the next sync."""
        with self._sync_lock:
            self._load_all()
        self.sync()

    def _load_all(self) -> None:
        self.built = False
        # Read the head first: writes during the load are replayed by the next sync.
        start = self.store.changes_since(self.store.version())
        with self._lock:
            self._reset()  # a reload after a failure or a store reset leaves no ghosts
            for article_id, data in self.store.iter_index_data():
                self.replace(article_id, data)
            self.version, self.head = start.version, start.head
        self.built = True

    def sync(self) -> int:
        """Apply the store's changes since our version; returns the version now reached.

        An index whose first load failed (store down at start) loads everything here, and so
        does one whose store lost history it had seen (wiped, or restored from a backup).
        """
        with self._sync_lock:
            if not self.built:
                self._load_all()
            changes = self.store.changes_since(self.version, self.head)
            if not changes.intact:
                # The store was wiped or restored from an older copy: sequence numbers at or
                # below ours may now name other writes, so only a full reload is safe.
                self._load_all()
                changes = self.store.changes_since(self.version, self.head)
            if changes.article_ids:
                loaded = self.store.load_index_data(changes.article_ids)
                with self._lock:
                    for article_id in changes.article_ids:
                        if article_id in loaded:
                            self.replace(article_id, loaded[article_id])
                        else:
                            self.remove(article_id)
            self.version, self.head = changes.version, changes.head
            return self.version


@dataclass(frozen=True)
class Filters:
    """Which articles a check may draw evidence from."""

    sources: tuple[str, ...] | None = None
    published_after: float | None = None  # POSIX seconds, inclusive
    published_before: float | None = None
    # Bare-date bounds (YYYY-MM-DD, inclusive) compare with the date an article was published
    # on where it was published, not with a UTC instant.
    after_day: str | None = None
    before_day: str | None = None

    @property
    def empty(self) -> bool:
        bounds = (self.published_after, self.published_before, self.after_day, self.before_day)
        return self.sources is None and all(b is None for b in bounds)


def local_day(value: str | None) -> str:
    """The calendar date an ISO 8601 date or date-time names, in its own time zone."""
    return value[:10] if value and len(value) >= 10 else ""


def timestamp(value: str | None) -> float:
    """POSIX seconds of an ISO 8601 date or date-time (dates at 00:00 UTC); NaN if none."""
    if not value:
        return float("nan")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return float("nan")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, unordered."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-scores, k - 1)[:k]


def _resized(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    n = min(len(array), capacity)
    out[:n] = array[:n]
    return out
