"""Row vectors of an index: a read-only base (a snapshot's mapped file) and a growable tail,
and how a few rows of the base are read without mapping them in."""

from __future__ import annotations

import os
import weakref

import numpy as np

INITIAL = 1024
# Up to this many rows of a mapped base are read with pread (see Vectors); more go through
# the mapping, where one copy beats thousands of system calls.
PREAD_MAX_ROWS = 4096


class Vectors:
    """Row vectors: a read-only base (a snapshot's mapped file) and a growable tail.

    A few rows of a mapped base (a check's candidates) are read with ``pread``, not through
    the mapping: every page a process touches in a mapping counts in its memory, and more is
    mapped than is touched (the kernel's fault-around, presumably): 300 checks at 1M
    statements, a few hundred rows each, had mapped 1,075 MB of the 1.5 GB file into a worker
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
        self.tail = resized(self.tail, capacity - self.start)

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
        """The rows, in the order asked; each run of consecutive rows in one system call (a
        check asks for its candidates with their neighbours: runs of three)."""
        distinct, slot = np.unique(rows, return_inverse=True)
        found = np.empty((len(distinct), self.dimension), dtype=np.float32)
        if not len(distinct):
            return found
        view = found.data.cast("B")
        width = self.width
        breaks = (np.flatnonzero(np.diff(distinct) != 1) + 1).tolist()
        for first, end in zip([0, *breaks], [*breaks, len(distinct)], strict=True):
            row = int(distinct[first])
            got = os.preadv(self.fd, [view[first * width : end * width]], self.offset + row * width)
            if got != (end - first) * width:
                raise OSError(f"short read of rows {row}..: {got} of {(end - first) * width}")
        return found[slot.reshape(-1)]


def resized(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    n = min(len(array), capacity)
    out[:n] = array[:n]
    return out
