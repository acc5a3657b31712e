"""The dense half of the statement index: an exact scan of the rows' vectors, or an attached
approximate index (``service.core.ann``) for the rows it covers plus an exact scan of the rows
written since its build."""

from __future__ import annotations

import numpy as np

from service.core.ann import AnnIndex
from service.core.rows import StatementRows

# The approximate index answers only when a check admits at least this share of its entries:
# a narrow filter leaves the scanned clusters with too few admitted rows, while an exact scan
# of those few rows stays cheap.
ANN_MIN_ADMITTED = 0.1


class DenseRows(StatementRows):
    """Rows (``service.core.rows``) searched by cosine, through the approximate index when
    one is attached; ``service.core.index`` adds the reads a check makes."""

    def _detach(self) -> None:
        super()._detach()
        self._ann: AnnIndex | None = None
        self._entry_rows = np.zeros(0, dtype=np.int64)  # ann entry -> row (-1: none)
        # (mutations, admitted entries, tail rows) for live rows: reused until the next write.
        self._live_view: tuple[int, np.ndarray, np.ndarray, int] | None = None

    def _compacted(self, alive: np.ndarray, remap: np.ndarray) -> None:
        entries = self._entry_rows
        kept = (entries >= 0) & alive[np.maximum(entries, 0)]
        self._entry_rows = np.where(kept, remap[np.maximum(entries, 0)], -1)
        self._live_view = None

    # -- the approximate index--------------------------------------------------------------------
    def attach(self, ann: AnnIndex | None) -> None:
        """Search the rows this index covers through it (None: scan every row exactly).

        Entries are matched to rows by statement key; rows without an entry (written after
        the build) are scanned exactly, entries without a live row (deleted or rewritten
        since) are filtered out of every search.
        """
        with self._lock:
            self._detach()
            if ann is None:
                return
            rows = np.flatnonzero(self._alive[: self._used])
            keys = self._keys[rows]
            if np.array_equal(keys, ann.keys):
                # Built from these very rows (`factcheck index` saves the index and the
                # snapshot a start maps from one state): entry i is live row i, no search
                # needed (two sorts of 1M keys were ~0.1 s of a start).
                self._entry_rows = rows.astype(np.int64)
                self._covered[rows] = True
                self._ann = ann
                return
            order = np.argsort(keys)
            # Looked up in ascending order: 1M random binary searches cost seconds at start
            # (cache misses), sorted ones a fraction of that.
            wanted = np.argsort(ann.keys)
            at_sorted, found_sorted = find_sorted(keys[order], ann.keys[wanted])
            at, found = np.empty_like(at_sorted), np.empty_like(found_sorted)
            at[wanted], found[wanted] = at_sorted, found_sorted
            self._entry_rows = np.where(found, rows[order[at]] if len(rows) else -1, -1)
            self._covered[self._entry_rows[found]] = True
            self._ann = ann

    def ann_staleness(self) -> tuple[int, int] | None:
        """(live rows without an entry, entries without a live row); None with no index."""
        with self._lock:
            if self._ann is None:
                return None
            admitted, tail, count = self._ann_view(None)
            return len(tail), len(admitted) - count

    def ann_snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the live rows' vectors and keys, to build an index from."""
        with self._lock:
            rows = np.flatnonzero(self._alive[: self._used])
            return self._vectors.take(rows), self._keys[rows].copy()

    def _ann_view(self, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
        """(which entries stand for a row the mask admits, the admitted rows that have no
        entry and are scanned exactly, how many entries are admitted); mask None: every live
        row, cached until a write (counting 1M entries a check was ~0.5 ms)."""
        if mask is None:
            cached = self._live_view
            if cached is not None and cached[0] == self._mutations:
                return cached[1], cached[2], cached[3]
        used = self._used
        source = self._alive[:used] if mask is None else mask[:used]
        entries = self._entry_rows
        admitted = entries >= 0
        admitted[admitted] = source[entries[admitted]]
        tail = np.flatnonzero(source & ~self._covered[:used])
        count = int(admitted.sum())
        if mask is None:
            self._live_view = (self._mutations, admitted, tail, count)
        return admitted, tail, count

    def _dense_rows(
        self, query: np.ndarray, k: int, mask: np.ndarray, filtered: bool
    ) -> np.ndarray:
        """Rows of the k statements most similar to the query among the mask's rows."""
        used = self._used
        ann = self._ann
        if ann is not None:
            admitted, tail, count = self._ann_view(mask if filtered else None)
            if count >= ANN_MIN_ADMITTED * len(admitted):
                found = ann.search(query, k, None if count == len(admitted) else admitted)
                if len(found) >= min(k, count):  # else too few admitted nearby: scan instead
                    rows = np.concatenate([self._entry_rows[found], tail])
                    cosine = self._vectors.take(rows) @ query
                    return rows[top_rows(cosine, k)]
            if filtered:
                rows = np.flatnonzero(mask[:used])
                return rows[top_rows(self._vectors.take(rows) @ query, k)]
        cosine = self._vectors.dot_all(used, query)
        cosine[~mask[:used]] = -np.inf
        return top_rows(cosine, k)


def find_sorted(ordered: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted value: its index in the ascending array, and whether it is there."""
    if len(ordered) == 0:
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
    return at, ordered[at] == wanted


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, unordered."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-scores, k - 1)[:k]
