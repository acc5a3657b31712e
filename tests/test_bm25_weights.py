"""BM25 weights of common terms reused between searches: the same scores, bit for bit, and
never stale after a write."""

from __future__ import annotations

import numpy as np
import pytest

from service.core import lexical, weights
from service.core.lexical import BM25

TEXTS = [
    "Officials said the ministry raised the forecast by 5 percent.",
    "The ministry cut the forecast, officials said.",
    "Rainfall rose by 5 percent in the valley.",
    "A new bridge opened in the valley.",
    "The forecast for rainfall stayed flat.",
] * 40


@pytest.fixture(autouse=True)
def small_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every term of these few rows counts as common, so the cache is exercised.
    monkeypatch.setattr(weights, "MIN_ROWS", 1)


def built(texts: list[str]) -> tuple[BM25, np.ndarray]:
    bm25 = BM25()
    for row, text in enumerate(texts):
        bm25.add(row, text)
    return bm25, np.ones(len(texts), dtype=bool)


def test_reused_weights_give_the_same_scores_bit_for_bit() -> None:
    bm25, alive = built(TEXTS)
    query = "ministry forecast rose 5 percent"
    rows0, scores0 = bm25.search(query, alive, len(TEXTS))  # no stamp: nothing cached
    assert bm25.weights.entries == {}
    for _ in range(2):
        rows, scores = bm25.search(query, alive, len(TEXTS), None, 1)
        np.testing.assert_array_equal(rows, rows0)
        np.testing.assert_array_equal(scores, scores0)
    assert set(bm25.weights.entries) == set(lexical.tokenize(query))
    only = np.arange(len(TEXTS)) % 3 == 0
    want = bm25.search(query, alive, len(TEXTS), only)
    got = bm25.search(query, alive, len(TEXTS), only, 1)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_a_write_drops_the_cached_weights_even_under_the_same_stamp() -> None:
    bm25, alive = built(TEXTS)
    query = "ministry forecast valley"
    bm25.search(query, alive, len(TEXTS), None, 1)
    more = [*TEXTS, "The ministry of the valley published a forecast."]
    bm25.add(len(TEXTS), more[-1])
    alive = np.ones(len(more), dtype=bool)
    fresh, _ = built(more)
    got = bm25.search(query, alive, len(more), None, 1)
    want = fresh.search(query, alive, len(more))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert len(TEXTS) in got[0]


def test_a_new_stamp_recomputes_after_a_deletion() -> None:
    bm25, alive = built(TEXTS)
    query = "ministry forecast"
    before = bm25.search(query, alive, len(TEXTS), None, 1)
    alive[:10] = False  # rows deleted: the index bumps its stamp
    got = bm25.search(query, alive, len(TEXTS) - 10, None, 2)
    want = bm25.search(query, alive, len(TEXTS) - 10)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert not np.isin(np.arange(10), got[0]).any()
    assert len(got[0]) < len(before[0])


def test_the_cache_stays_within_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    bm25, alive = built(TEXTS)
    monkeypatch.setattr(weights, "CACHE_BYTES", 2_000)
    bm25.search("ministry forecast rainfall valley percent", alive, len(TEXTS), None, 1)
    kept = bm25.weights
    assert 0 < kept.bytes <= 2_000
    assert kept.bytes == sum(r.nbytes + w.nbytes for r, w in kept.entries.values())
