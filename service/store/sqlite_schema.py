"""The SQLite store's tables, and its rows read back as articles and index data."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from service.types import Article, IndexData

# Statements hold their text and offsets only; an article's vectors are one BLOB beside them.
# Why: a 1,536-byte vector inline made each statement row overflow into a page of its own
# (WITHOUT ROWID tables keep ~1 KB of a row in the tree), 4.6 KB a statement on disk, so the
# passages a check reads were spread over a file 8x larger than they need, and page cache a
# check needs was mostly vectors it never reads (docs/benchmarks.md). Stores made with the
# vector inline are rewritten on first open (service.store.sqlite_layout).


def statements_table(name: str) -> str:
    """The statements table's definition, under a name (the layout upgrade builds it aside)."""
    return f"""CREATE TABLE IF NOT EXISTS {name} (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    context_start INTEGER NOT NULL,
    context_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (article_id, position)
) WITHOUT ROWID"""


SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT,
    published_at TEXT,
    language TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    statement_count INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    credits TEXT
);
CREATE INDEX IF NOT EXISTS articles_by_hash ON articles(content_hash);
"""
    + statements_table("statements")
    + """;
CREATE TABLE IF NOT EXISTS article_vectors (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    vectors BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (article_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_seq ON changes(seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('seq', 0);
"""
)

META_COLUMNS = (
    "id, title, source, url, published_at, language, content_hash, statement_count, "
    "created_at, updated_at, credits"
)
STATEMENT_COLUMNS = "position, start, end, text, context_start, context_end"


def article_from_row(row: Sequence[object]) -> Article:
    (id_, title, source, url, published_at, language, content_hash, count, created, updated) = row[
        :10
    ]
    stored_credits = row[10]
    return Article(
        id=str(id_),
        title=str(title),
        source=str(source),
        url=optional_text(url),
        published_at=optional_text(published_at),
        language=optional_text(language),
        content_hash=str(content_hash),
        statement_count=int(count),  # type: ignore[call-overload]
        created_at=str(created),
        updated_at=str(updated),
        text=str(row[11]) if len(row) > 11 else None,
        credits=_credits(stored_credits),
    )


def _credits(found: object) -> tuple[str, ...] | None:
    if found is None:
        return None  # stored before credits were kept
    # Most articles credit nothing: skip the parser for them (read ~45 times a check at 1M).
    return () if found == "[]" else tuple(json.loads(str(found)))


def optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def index_data(
    texts: list[str],
    blob: bytes | None,
    source: str | None,
    published_at: str | None,
    title: str | None = None,
) -> IndexData:
    """What an index reads of an article: its statements' texts and their vectors, stored as
    one float32 matrix (article_vectors.vectors, row i for statement i)."""
    if not texts:
        vectors = np.zeros((0, 0), dtype=np.float32)
    elif not blob:
        # Every write puts both in one transaction: this file was changed by something else.
        raise ValueError(f"{len(texts)} statements without their vectors: the store is damaged")
    else:
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(texts), -1)
    return IndexData(
        texts=texts,
        vectors=vectors,
        source=source,
        published_at=published_at,
        title=title,
    )
