"""Bulk loading: articles whose statements and vectors are already computed, straight into a
store, bypassing segmentation and embedding.

Why: a benchmark at a million statements cannot wait for the model to embed them all (hours on
two cores). What it loads here is exactly what ``POST /v1/articles`` would have stored for the
same article, statements and vectors -- same rows, same change sequence -- so a service started
on a bulk-loaded store answers as it would after ingesting through the API
(tests/test_bulk.py checks that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from service.store.base import Store
from service.types import Article, Statement

Item = tuple[Article, Sequence[Statement], np.ndarray]


def bulk_load(store: Store, items: Iterable[Item], batch: int = 500) -> int:
    """Write every (article, statements, vectors) item; returns the statements written.

    Items go to ``Store.put_articles`` ``batch`` at a time (SQLite: one transaction per batch).
    Each article still bumps the change sequence, so running workers pick the load up through
    their ordinary sync.
    """
    written = 0
    pending: list[Item] = []
    for item in items:
        if len(item[1]) != len(item[2]):
            raise ValueError(f"article {item[0].id}: one vector per statement is required")
        pending.append(item)
        written += len(item[1])
        if len(pending) >= batch:
            store.put_articles(pending)
            pending = []
    if pending:
        store.put_articles(pending)
    return written
