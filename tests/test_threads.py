"""What request threads of one gthread worker share (service/serving/worker.py): used at once from
several threads, each gives every thread the answer it gives one thread alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from service.core.segment import segment

RIVERS = ["Danube", "Rhine", "Loire", "Elbe", "Tagus", "Po", "Oder", "Vistula"]


def text_of(n: int) -> str:
    return (
        f"Volunteers counted {n * 37 + 11} herons along the {RIVERS[n % 8]} on day {n}. "
        f"Dr. Lee said the count was {'up' if n % 2 else 'down'} on last year's. "
        f"The survey of {RIVERS[(n + 3) % 8]} ends on {n % 28 + 1} May."
    )


@pytest.mark.parametrize("threads", [4, 16])
def test_segmenting_from_many_threads_at_once_matches_one_thread(threads: int) -> None:
    texts = [text_of(n) for n in range(400)]
    alone = [segment(t) for t in texts]
    with ThreadPoolExecutor(threads) as pool:
        together = list(pool.map(segment, texts))
    assert [len(s) for s in together] == [len(s) for s in alone]
    assert together == alone
