"""Common terms' BM25 weights kept between searches (service.core.lexical).

At 1M statements a claim's terms have ~230k postings, nearly all of a few common terms that
most claims share; recomputing their weights (liveness, length norm) was half of BM25. A
term's live rows and weights depend only on the rows, lengths and liveness, so they are kept
while the index's stamp (its count of writes) holds, and dropped at any write.
"""

from __future__ import annotations

import numpy as np

# Terms with at least this many live rows are kept, within this many bytes per process
# (rows int64 + weights float32: 12 bytes a row; ~24 MB for the bench's common terms at 1M).
MIN_ROWS = 4096
CACHE_BYTES = 64 << 20

Entry = tuple[np.ndarray, np.ndarray]  # live rows, ascending; their weights


class TermWeights:
    """Entries valid for one stamp; a new stamp, or none, empties the cache."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.stamp: object = None
        self.bytes = 0

    def at(self, stamp: object) -> None:
        """Searches from now on see the rows as of this stamp (None: keep nothing)."""
        if stamp is None or stamp != self.stamp:
            self.entries, self.stamp, self.bytes = {}, stamp, 0

    def drop(self) -> None:
        """The rows changed: nothing kept holds, whatever stamp comes next."""
        self.entries, self.stamp, self.bytes = {}, None, 0

    def get(self, term: str) -> Entry | None:
        return self.entries.get(term) if self.stamp is not None else None

    def keep(self, term: str, entry: Entry) -> None:
        size = entry[0].nbytes + entry[1].nbytes
        if self.stamp is None or len(entry[0]) < MIN_ROWS or size > CACHE_BYTES:
            return
        while self.entries and self.bytes + size > CACHE_BYTES:  # oldest out first
            dropped = self.entries.pop(next(iter(self.entries)))
            self.bytes -= dropped[0].nbytes + dropped[1].nbytes
        self.entries[term] = entry
        self.bytes += size
