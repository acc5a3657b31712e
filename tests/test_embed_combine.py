"""Claims encoded by several threads at once share model passes, and each gets its own rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.core.embed import _Combiner, get_embedder

CLAIMS = [f"Claim number {i} says the river {'rose ' * (i % 5)}by {i} metres." for i in range(40)]


@pytest.mark.parametrize("threads", [2, 8])
def test_claims_from_many_threads_get_their_own_vectors(threads: int) -> None:
    embedder = get_embedder()
    alone = np.stack([embedder._runner.encode([c], 64)[0] for c in CLAIMS])
    with ThreadPoolExecutor(threads) as pool:
        together = np.stack(list(pool.map(lambda c: embedder.encode([c])[0], CLAIMS)))
    # Padded beside longer claims, a claim's vector moves by float rounding only.
    assert np.allclose(together, alone, atol=1e-5)
    assert np.min(np.sum(together * alone, axis=1)) > 0.99999


def _until(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.001)
    assert condition(), "condition not reached"  # type: ignore[operator]


def test_callers_waiting_on_a_pass_are_combined_into_the_next() -> None:
    embedder = get_embedder()
    batches: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def run(texts: Sequence[str]) -> np.ndarray:
        batches.append(len(texts))
        if len(batches) == 1:
            first_started.set()
            release.wait(30)
        return embedder._runner.encode(texts, 64)

    combiner = _Combiner(run)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(combiner.encode, CLAIMS[:1])
        assert first_started.wait(30)
        rest = [pool.submit(combiner.encode, [c, c + " Really."]) for c in CLAIMS[1:8]]
        _until(lambda: len(combiner._queue) == 7)  # all seven queued behind the first pass
        release.set()
        results = [first.result(30), *(f.result(30) for f in rest)]
    assert batches == [1, 14]  # the seven waiting callers ran in one pass
    assert [len(r) for r in results] == [1] + [2] * 7
    for claim, vectors in zip(CLAIMS[1:8], results[1:], strict=True):
        expected = embedder._runner.encode([claim, claim + " Really."], 64)
        assert np.allclose(vectors, expected, atol=1e-5)


def test_an_error_reaches_every_caller_of_the_pass() -> None:
    def run(texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("model failed")

    combiner = _Combiner(run)
    with pytest.raises(RuntimeError, match="model failed"):
        combiner.encode(["a claim"])
    assert combiner._queue == []
