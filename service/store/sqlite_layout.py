"""Stores made by earlier releases, brought to the current layout when opened for writing.

Each step checks the file's own tables, so it runs once, inside the opening transaction (the
file is never left half-upgraded: a crash rolls the step back and the next open redoes it), and
a process that opens the file after another upgraded it finds nothing to do.

What an upgrade asks of the operator: stop every process of the earlier release first (its index
rebuild reads the columns the upgrade removes), leave room on disk for ~2.5x the file while
it runs (the copy and its WAL), and let one process open the file first (`factcheck serve` does,
before starting its workers): at 1M statements the rewrite takes longer than another process
waits for the write lock (BUSY_TIMEOUT_S).
"""

from __future__ import annotations

import logging
import sqlite3
import time

from service.store.sqlite_schema import statements_table

log = logging.getLogger(__name__)

CREDITS_COLUMN = "ALTER TABLE articles ADD COLUMN credits TEXT"


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The table's column names (none: no such table)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def earlier_layout(conn: sqlite3.Connection) -> bool:
    """Whether the file needs any step of `upgrade` (an empty file needs none)."""
    articles = columns(conn, "articles")
    return "vector" in columns(conn, "statements") or bool(articles and "credits" not in articles)


def upgrade(conn: sqlite3.Connection, path: str) -> None:
    """Bring the file to the current layout; call inside a write transaction, after SCHEMA."""
    if "credits" not in columns(conn, "articles"):
        conn.execute(CREDITS_COLUMN)  # unknown (NULL) for the articles already there
    if "vector" in columns(conn, "statements"):
        _vectors_out_of_statements(conn, path)


def _vectors_out_of_statements(conn: sqlite3.Connection, path: str) -> None:
    """Statement rows that carry their vector inline -> one vectors BLOB an article."""
    began = time.perf_counter()
    count = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
    log.warning("rewriting %s: %d statements' vectors move beside them (once)", path, count)
    rows = conn.execute("SELECT article_id, vector FROM statements ORDER BY article_id, position")
    current: str | None = None
    parts: list[bytes] = []
    for article_id, blob in rows:
        if article_id != current:
            _write_vectors(conn, current, parts)
            current, parts = article_id, []
        parts.append(blob)
    _write_vectors(conn, current, parts)
    conn.execute(statements_table("statements_without_vectors"))
    conn.execute(
        "INSERT INTO statements_without_vectors SELECT article_id, position, start, end, "
        "context_start, context_end, text FROM statements"
    )
    conn.execute("DROP TABLE statements")
    conn.execute("ALTER TABLE statements_without_vectors RENAME TO statements")
    log.warning("rewrote %s in %.1f s", path, time.perf_counter() - began)


def _write_vectors(conn: sqlite3.Connection, article_id: str | None, parts: list[bytes]) -> None:
    """One article's statement vectors, in position order, as its one BLOB."""
    if article_id is not None:
        conn.execute(
            "INSERT OR REPLACE INTO article_vectors(article_id, vectors) VALUES (?, ?)",
            (article_id, b"".join(parts)),
        )
