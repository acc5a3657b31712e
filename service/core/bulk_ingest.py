"""Bulk ingest: many records, validated one by one as the API does, embedded and written in
chunks.

Each record goes through the API's own rules (``validate_article`` and ``plan_article``), so
the CLI accepts exactly what ``POST /v1/articles`` accepts. What differs is the batching: the
statements of a whole chunk of articles are embedded in one call (length-sorted across
articles, so batches are full and barely padded) and the chunk is written with one
``put_articles`` (one SQLite transaction, one Redis pipeline). Records are read lazily, so a
file of a million lines is never held in memory; only one chunk is.

Interrupted (Ctrl-C, kill -9), a run leaves the chunks it wrote, each article whole (every
store write of an article is atomic); a rerun finds those unchanged by their content hash
before segmenting or embedding them, and writes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import numpy as np

from service.core.embed import Embedder
from service.core.ingest import (
    IngestResult,
    Limits,
    Planned,
    Rejected,
    plan_article,
    store_planned,
    validate_article,
)
from service.store.base import Store

# A chunk: enough statements for full, length-sorted batches on every core, few enough that a
# kill loses little work and memory stays small.
CHUNK_STATEMENTS = 4096
CHUNK_ARTICLES = 500


@dataclass(frozen=True)
class Source:
    """One raw record and where it came from (for the refusal message)."""

    fields: Any
    origin: str


def ingest_records(
    store: Store,
    embedder: Embedder,
    records: Iterable[Source],
    limits: Limits,
    on_result: Callable[[IngestResult], None],
    on_reject: Callable[[str, Any], None],
    chunk_statements: int = CHUNK_STATEMENTS,
    chunk_articles: int = CHUNK_ARTICLES,
) -> None:
    """Ingest every record; each outcome goes to ``on_result`` or ``on_reject(origin, why)``
    (why: the field errors, as the API's 422 names them), in chunk order."""
    pending: list[Planned] = []
    statements = 0
    ids: dict[str, Planned] = {}  # planned in this chunk, not yet in the store

    def flush() -> None:
        nonlocal statements
        if pending:
            for result in embed_and_store(store, embedder, pending):
                on_result(result)
        pending.clear()
        ids.clear()
        statements = 0

    for record in records:
        try:
            fields = validate_article(record.fields, limits)
            planned = _plan(store, fields, limits, ids)
        except ma.ValidationError as exc:
            on_reject(record.origin, exc.messages)
            continue
        except Rejected as exc:
            on_reject(record.origin, exc.errors)
            continue
        if isinstance(planned, IngestResult):
            on_result(planned)
            continue
        pending.append(planned)
        ids[planned.article.id] = planned
        statements += len(planned.statements)
        if statements >= chunk_statements or len(pending) >= chunk_articles:
            flush()
    flush()


def _plan(
    store: Store, fields: dict[str, Any], limits: Limits, ids: dict[str, Planned]
) -> Planned | IngestResult:
    planned = plan_article(store, fields, limits.max_statements)
    if isinstance(planned, IngestResult):
        return planned
    earlier = ids.get(planned.article.id)
    if earlier is not None and earlier.article.content_hash == planned.article.content_hash:
        # The same content twice in one chunk: the store would find the second unchanged;
        # embedding it again would only waste the time.
        return IngestResult(earlier.article, "unchanged")
    return planned


def embed_and_store(store: Store, embedder: Embedder, planned: list[Planned]) -> list[IngestResult]:
    """Embed the statements of every planned article in one call, then write them all."""
    texts = [s.text for p in planned for s in p.statements]
    # Pages of one site repeat lines (menus, bylines) the cleaner keeps: embed each text once.
    unique = list(dict.fromkeys(texts))
    where = {text: i for i, text in enumerate(unique)}
    vectors = embedder.encode(unique)[[where[t] for t in texts]]
    items: list[tuple[Planned, np.ndarray]] = []
    start = 0
    for p in planned:
        items.append((p, vectors[start : start + len(p.statements)]))
        start += len(p.statements)
    return store_planned(store, items)
