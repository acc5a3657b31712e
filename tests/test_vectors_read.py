"""Rows of a mapped vector file read with pread (service.core.vectors): the rows asked for, in
the order asked, whether they come one by one, in runs, repeated or from the growable tail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.core.vectors import Vectors

BASE_ROWS, DIM = 50, 6


@pytest.fixture
def vectors(tmp_path: Path) -> tuple[Vectors, np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(BASE_ROWS, DIM)).astype(np.float32)
    np.save(tmp_path / "base.npy", base)
    mapped = np.load(tmp_path / "base.npy", mmap_mode="r")
    out = Vectors(DIM, mapped)
    assert out._file is not None  # the mapped base is read with pread, the path under test
    tail = rng.normal(size=(4, DIM)).astype(np.float32)
    out.put(np.arange(BASE_ROWS, BASE_ROWS + 4), tail)
    return out, np.concatenate([base, tail])


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [7],
        [3, 4, 5],  # one run
        [10, 9, 11, 30, 29, 31],  # candidates with their neighbours, out of order
        [5, 5, 5, 6],  # repeats (a statement that is its own neighbour)
        [0, 49, 1, 48],  # both ends of the file
        [49, 50, 51, 2],  # across the mapped base and the tail
        list(range(BASE_ROWS)),
    ],
)
def test_take_reads_the_rows_asked_for(
    vectors: tuple[Vectors, np.ndarray], rows: list[int]
) -> None:
    store, expected = vectors
    got = store.take(np.array(rows, dtype=np.int64))
    assert got.shape == (len(rows), DIM)
    np.testing.assert_array_equal(got, expected[rows])
