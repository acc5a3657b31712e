"""Several articles at once (POST /v1/articles/batch): each record checked by the same path as
one POST (``validate_article``, the segmentation rules), the statements of every article to
write embedded in one call (ONNX sorts them by length across articles: less padding than one
article at a time), and all of them written in one ``put_articles`` call, each article atomic.

The outcome of a batch is the one that single POSTs of its records, in order, would have had:
an article identical to one stored, or to one earlier in the batch, is ``unchanged`` (and not
embedded again); a second article under an id the batch already wrote replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import marshmallow as ma
import numpy as np

from service.core.embed import Embedder
from service.core.ingest import (
    IngestResult,
    Limits,
    Planned,
    Rejected,
    _encodable,
    content_hash,
    new_article,
    statements_of,
    store_planned,
    utc_now,
    validate_article,
)
from service.store.base import Store
from service.types import Article, Statement

ENCODE_SLICE = 256  # statements per encode call: 4 of the model's batches at the default 64
Refusal = ma.ValidationError | Rejected
Outcome = IngestResult | Refusal


@dataclass
class _Write:
    """An article of the batch to write, and where its outcome goes."""

    index: int
    article: Article
    statements: list[Statement]


def ingest_records(
    store: Store, embedder: Embedder, records: list[Any], limits: Limits
) -> list[Outcome]:
    """One outcome per record, in order: an IngestResult, or the refusal (a
    marshmallow.ValidationError or a Rejected) that the single POST would have raised.
    A store failure (StoreUnavailable) propagates: what was written stays written, and a
    retry of the whole batch finds it unchanged."""
    outcomes: list[Outcome | None] = [None] * len(records)
    writes: list[_Write] = []
    pending: dict[str, _Write] = {}  # id -> the batch's latest write under it
    same_as: dict[int, int] = {}  # record -> the earlier record whose article it repeats
    now = utc_now()
    for index, raw in enumerate(records):
        try:
            fields = validate_article(raw, limits)
            _encodable(fields)
        except (ma.ValidationError, Rejected) as exc:
            outcomes[index] = exc
            continue
        digest = content_hash(fields)
        article_id = fields.get("id") or _id_for(store, pending, digest)
        earlier = pending.get(article_id)
        if earlier is not None and earlier.article.content_hash == digest:
            same_as[index] = earlier.index
            continue
        existing = None if earlier else store.get_article(article_id, with_text=False)
        if existing is not None and existing.content_hash == digest:
            outcomes[index] = IngestResult(existing, "unchanged")
            continue
        try:
            statements = statements_of(fields, limits.max_statements)
        except Rejected as exc:
            outcomes[index] = exc
            continue
        before = earlier.article if earlier else existing
        article = new_article(fields, article_id, digest, len(statements), before, now)
        pending[article_id] = write = _Write(index, article, statements)
        writes.append(write)
    _write(store, embedder, writes, outcomes)
    for index, first in same_as.items():
        done = outcomes[first]
        assert isinstance(done, IngestResult)  # written, or found unchanged by the store
        outcomes[index] = replace(done, status="unchanged")
    return [o for o in outcomes if o is not None]


def _id_for(store: Store, pending: dict[str, _Write], digest: str) -> str:
    """The id a record without one gets, as ingest_article gives it: the smallest id holding
    this content (stored, or written earlier in the batch), else one derived from the hash.
    (A stored holder that the batch overwrites with other content still counts: the batch
    would have to re-read the store between writes to know the next one.)"""
    holders = [i for i, w in pending.items() if w.article.content_hash == digest]
    stored = store.find_by_hash(digest)
    if stored is not None:
        holders.append(stored)
    return min(holders) if holders else "a" + digest[:15]


def _encode(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Every text's vector, computed shortest first in slices of ENCODE_SLICE: sorted across
    the whole batch (little padding), yet the model is free between slices for the checks
    that this worker's other threads are serving (one encode call holds it throughout)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(order), ENCODE_SLICE):
        part = order[start : start + ENCODE_SLICE]
        out[part] = embedder.encode([texts[i] for i in part])
    return out


def _write(
    store: Store, embedder: Embedder, writes: list[_Write], outcomes: list[Outcome | None]
) -> None:
    """Embed every statement of the writes in one call, then write them in one store call."""
    if not writes:
        return
    vectors = _encode(embedder, [s.text for w in writes for s in w.statements])
    bounds = np.cumsum([0] + [len(w.statements) for w in writes])
    items = [
        (Planned(w.article, w.statements), vectors[bounds[i] : bounds[i + 1]])
        for i, w in enumerate(writes)
    ]
    # The write and what became of each article, as for one POST (store_planned compares the
    # content again inside the write: a concurrent writer may have stored it first).
    for w, result in zip(writes, store_planned(store, items), strict=True):
        outcomes[w.index] = result
