"""SQLite store: the embedded, durable default (WAL journal, synchronous=FULL)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from service.store.base import Changes, PutResult, Store
from service.store.sqlite_connection import SQLiteConnections
from service.store.sqlite_schema import (
    META_COLUMNS,
    STATEMENT_COLUMNS,
    article_from_row,
    index_data,
)
from service.types import Article, Hit, IndexData, Statement

T = TypeVar("T")


# Keys (two bound values each) per resolve query: well under SQLite's variable limit.
RESOLVE_CHUNK = 400


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]


class SQLiteStore(SQLiteConnections, Store):
    """Articles, statements with their vectors, and the change sequence in one SQLite file."""

    def _bump(self, conn: sqlite3.Connection, article_id: str) -> int:
        seq = conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value")
        version = int(seq.fetchone()[0])
        conn.execute(
            "INSERT INTO changes(article_id, seq) VALUES (?, ?) "
            "ON CONFLICT(article_id) DO UPDATE SET seq = excluded.seq",
            (article_id, version),
        )
        return version

    def put_article(
        self,
        article: Article,
        statements: Sequence[Statement],
        vectors: np.ndarray,
        if_changed: bool = False,
    ) -> PutResult:
        with self._write() as conn:
            return self._put(conn, article, statements, vectors, if_changed)

    def put_articles(
        self,
        items: Sequence[tuple[Article, Sequence[Statement], np.ndarray]],
        if_changed: bool = False,
    ) -> list[PutResult]:
        """Many articles in one transaction: one fsync per batch instead of one per article,
        which is what makes bulk loading a million statements take minutes, not hours."""
        with self._write() as conn:
            return [self._put(conn, *item, if_changed=if_changed) for item in items]

    def _put(
        self,
        conn: sqlite3.Connection,
        article: Article,
        statements: Sequence[Statement],
        vectors: np.ndarray,
        if_changed: bool = False,
    ) -> PutResult:
        if len(statements) != len(vectors):
            raise ValueError("one vector per statement is required")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        existed = conn.execute(
            "SELECT content_hash FROM articles WHERE id = ?", (article.id,)
        ).fetchone()
        if if_changed and existed is not None and existed[0] == article.content_hash:
            seq = conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
            return PutResult(created=False, version=int(seq[0]), unchanged=True)
        # The statements and vectors go in after the article: with foreign keys on, REPLACE
        # deletes the old article row and its statements and vectors cascade with it. The
        # explicit DELETE keeps that true for a file whose tables lack the cascade.
        conn.execute("DELETE FROM statements WHERE article_id = ?", (article.id,))
        conn.execute(
            "INSERT OR REPLACE INTO articles(id, title, source, url, published_at, language, "
            "text, content_hash, statement_count, created_at, updated_at, credits) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.title,
                article.source,
                article.url,
                article.published_at,
                article.language,
                article.text or "",
                article.content_hash,
                article.statement_count,
                article.created_at,
                article.updated_at,
                None if article.credits is None else json.dumps(list(article.credits)),
            ),
        )
        conn.executemany(
            "INSERT INTO statements(article_id, position, start, end, context_start, "
            "context_end, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (article.id, s.position, s.start, s.end, s.context_start, s.context_end, s.text)
                for s in statements
            ],
        )
        conn.execute(
            "INSERT OR REPLACE INTO article_vectors(article_id, vectors) VALUES (?, ?)",
            (article.id, vectors.tobytes()),
        )
        version = self._bump(conn, article.id)
        return PutResult(created=existed is None, version=version)

    def delete_article(self, article_id: str) -> bool:
        with self._write() as conn:
            gone = conn.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
            if gone:
                conn.execute("DELETE FROM statements WHERE article_id = ?", (article_id,))
                conn.execute("DELETE FROM article_vectors WHERE article_id = ?", (article_id,))
                self._bump(conn, article_id)
        return bool(gone)

    def get_article(self, article_id: str, with_text: bool = True) -> Article | None:
        columns = META_COLUMNS + (", text" if with_text else "")
        row = (
            self._conn()
            .execute(f"SELECT {columns} FROM articles WHERE id = ?", (article_id,))
            .fetchone()
        )
        return article_from_row(row) if row else None

    def get_statements(self, article_id: str) -> list[Statement]:
        rows = self._conn().execute(
            f"SELECT {STATEMENT_COLUMNS} FROM statements WHERE article_id = ? ORDER BY position",
            (article_id,),
        )
        return [Statement(*row) for row in rows]

    def get_article_with_statements(
        self, article_id: str
    ) -> tuple[Article, list[Statement]] | None:
        with self._read():  # one snapshot: text and offsets always belong together
            article = self.get_article(article_id)
            return (article, self.get_statements(article_id)) if article else None

    def find_by_hash(self, content_hash: str) -> str | None:
        row = (
            self._conn()
            .execute(
                "SELECT id FROM articles WHERE content_hash = ? ORDER BY id LIMIT 1",
                (content_hash,),
            )
            .fetchone()
        )
        return row[0] if row else None

    def list_articles(self, limit: int, after: str | None = None) -> list[Article]:
        rows = self._conn().execute(
            f"SELECT {META_COLUMNS} FROM articles WHERE id > ? ORDER BY id LIMIT ?",
            (after or "", limit),
        )
        return [article_from_row(row) for row in rows]

    def version(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0])

    def changes_since(self, version: int, head: str | None = None) -> Changes:
        with self._read() as conn:
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0])
            intact = current >= version
            if head is not None:
                row = conn.execute("SELECT seq FROM changes WHERE article_id = ?", (head,))
                seen = row.fetchone()
                intact = intact and seen is not None and seen[0] >= version
            rows = conn.execute(
                "SELECT article_id FROM changes WHERE seq > ? ORDER BY seq", (version,)
            ).fetchall()
            last = conn.execute("SELECT article_id FROM changes ORDER BY seq DESC LIMIT 1")
            latest = last.fetchone()
        return Changes(
            version=current,
            head=latest[0] if latest else None,
            intact=intact,
            article_ids=[r[0] for r in rows],
        )

    def load_index_data(self, article_ids: Sequence[str]) -> dict[str, IndexData]:
        found: dict[str, IndexData] = {}
        with self._read() as conn:
            for article_id in article_ids:
                meta = conn.execute(
                    "SELECT a.source, a.published_at, a.title, v.vectors FROM articles a "
                    "LEFT JOIN article_vectors v ON v.article_id = a.id WHERE a.id = ?",
                    (article_id,),
                ).fetchone()
                if meta:
                    texts = conn.execute(
                        "SELECT text FROM statements WHERE article_id = ? ORDER BY position",
                        (article_id,),
                    ).fetchall()
                    found[article_id] = index_data([t for (t,) in texts], meta[3], *meta[:3])
        return found

    def iter_index_data(self, batch: int = 500) -> Iterator[tuple[str, IndexData]]:
        with self._read() as conn:
            # Every article (one without statements too, empty), and its statements' texts
            # from a second cursor in the same order: a merge, not a query an article.
            articles = conn.execute(
                "SELECT a.id, a.source, a.published_at, a.title, v.vectors FROM articles a "
                "LEFT JOIN article_vectors v ON v.article_id = a.id ORDER BY a.id"
            )
            texts = conn.execute(
                "SELECT article_id, text FROM statements ORDER BY article_id, position"
            )
            pending = next(texts, None)
            for article_id, source, published_at, title, blob in articles:
                own: list[str] = []
                while pending is not None and pending[0] <= article_id:
                    if pending[0] == article_id:
                        own.append(pending[1])
                    pending = next(texts, None)
                yield article_id, index_data(own, blob, source, published_at, title)

    def resolve(self, keys: Sequence[tuple[str, int]]) -> list[Hit | None]:
        # Two queries for all the keys, not two a key: a check resolves ~50 passages
        # (corroborators included), and a statement a round trip was ~8 ms of it at 1M.
        wanted = list(dict.fromkeys(keys))
        rows: dict[tuple[str, int], tuple[Any, ...]] = {}
        articles: dict[str, Article] = {}
        with self._read() as conn:
            for chunk in _chunks(wanted, RESOLVE_CHUNK):
                pairs = ", ".join("(?, ?)" for _ in chunk)
                found = conn.execute(
                    f"WITH wanted(a, p) AS (VALUES {pairs}) "
                    f"SELECT article_id, {STATEMENT_COLUMNS}, "
                    "(SELECT substr(text, context_start + 1, context_end - context_start) "
                    " FROM articles WHERE id = article_id) "
                    "FROM wanted JOIN statements ON article_id = a AND position = p",
                    [v for key in chunk for v in key],
                ).fetchall()
                rows.update(((r[0], r[1]), r[1:]) for r in found)
            ids = list(dict.fromkeys(a for a, _ in wanted))
            for chunk_ids in _chunks(ids, RESOLVE_CHUNK):
                marks = ", ".join("?" for _ in chunk_ids)
                for meta in conn.execute(
                    f"SELECT {META_COLUMNS} FROM articles WHERE id IN ({marks})", chunk_ids
                ):
                    articles[meta[0]] = article_from_row(meta)
        hits: list[Hit | None] = []
        for article_id, position in keys:
            row = rows.get((article_id, position))
            article = articles.get(article_id)
            if row is None or article is None:
                hits.append(None)
                continue
            hits.append(Hit(article=article, statement=Statement(*row[:6]), context=row[6]))
        return hits

    def count_articles(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM articles").fetchone()[0])
