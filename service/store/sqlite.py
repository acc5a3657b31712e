"""SQLite store: the embedded, durable default (WAL journal, synchronous=FULL)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np

from service.store.base import (
    Changes,
    PutResult,
    Store,
    StoreRefusingWrites,
    StoreUnavailable,
)
from service.store.sqlite_failures import failure, read_only
from service.types import Article, Hit, IndexData, Statement

_SCHEMA = """
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
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_hash ON articles(content_hash);
CREATE TABLE IF NOT EXISTS statements (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    context_start INTEGER NOT NULL,
    context_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (article_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (article_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_seq ON changes(seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('seq', 0);
"""

_META_COLUMNS = (
    "id, title, source, url, published_at, language, content_hash, statement_count, "
    "created_at, updated_at"
)
_STATEMENT_COLUMNS = "position, start, end, text, context_start, context_end"


BUSY_TIMEOUT_S = 30
# The readiness probe waits this long for the write lock; a writer holding it proves the file
# writable anyway.
PROBE_BUSY_MS = 100
# Connections a forked child inherited and must neither use nor close (see _conn).
_INHERITED: list[object] = []


def path_from_url(url: str) -> str:
    """sqlite:///relative.db, sqlite:////abs/path.db or sqlite:///:memory: -> a file path."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = url[len("sqlite:///") :]
    if not path or path == ":memory:":
        # Each thread has its own connection, and an in-memory database is per connection.
        raise ValueError("the SQLite store needs a file path, e.g. sqlite:///data/factcheck.db")
    return path


class SQLiteStore(Store):
    """One connection per thread over a WAL database file; writes are single transactions."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        """read_only: for commands that only read (`factcheck check`): the file is opened
        read-only, so a store nobody may write still answers; every write then fails."""
        self.url = url
        self.path = path_from_url(url)
        # No file yet: made as for any command (an empty store answers "nothing found").
        self.read_only = read_only and os.path.exists(self.path)
        self._local = threading.local()
        self._pid = os.getpid()
        if self.read_only:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn().executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except sqlite3.Error as exc:  # a read-only file or folder, a full disk, not a database
            raise failure(f"cannot open the SQLite store {self.path}", exc, self.path) from exc

    def _conn(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child (gunicorn preload_app) must not use its parent's connections:
            # SQLite forbids carrying them across fork. Abandon them, kept referenced so that
            # they are never closed here (a close in the child could checkpoint or remove the
            # WAL file under the parent), and open the child's own.
            _INHERITED.append(self._local)
            self._local, self._pid = threading.local(), os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.read_only:
                    return self._read_only_conn()
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise failure(f"cannot open the SQLite store {self.path}", exc, self.path) from exc
            self._local.conn = conn
        return conn

    def _read_only_conn(self) -> sqlite3.Connection:
        # Reading a WAL database needs its -shm file; where none can be made (a read-only
        # folder, no WAL left), the file is frozen for us: read it as immutable.
        frozen = read_only(self.path) is not None and not os.path.exists(self.path + "-shm")
        mode = "ro&immutable=1" if frozen else "ro"
        uri = f"file:{quote(os.path.abspath(self.path))}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # A main file that cannot be written refuses writes even while its WAL still takes
        # them (no checkpoint could ever move them in): what /readyz says (probe_write).
        if locked := read_only(self.path):
            raise StoreRefusingWrites(f"the SQLite file {locked} is read-only")
        conn = self._conn()
        try:
            # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked beyond the timeout, disk trouble
            raise failure("SQLite store busy or failing", exc, self.path) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # also after a failed COMMIT, or the thread stays stuck
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # e.g. database or disk is full
                raise failure("SQLite store failing", exc, self.path) from exc
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for every query inside
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

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
        conn.execute("DELETE FROM statements WHERE article_id = ?", (article.id,))
        conn.execute(
            "INSERT OR REPLACE INTO articles(id, title, source, url, published_at, language, "
            "text, content_hash, statement_count, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        conn.executemany(
            "INSERT INTO statements(article_id, position, start, end, context_start, "
            "context_end, text, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    article.id,
                    s.position,
                    s.start,
                    s.end,
                    s.context_start,
                    s.context_end,
                    s.text,
                    vectors[i].tobytes(),
                )
                for i, s in enumerate(statements)
            ],
        )
        version = self._bump(conn, article.id)
        return PutResult(created=existed is None, version=version)

    def delete_article(self, article_id: str) -> bool:
        with self._write() as conn:
            gone = conn.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
            if gone:
                conn.execute("DELETE FROM statements WHERE article_id = ?", (article_id,))
                self._bump(conn, article_id)
        return bool(gone)

    def get_article(self, article_id: str, with_text: bool = True) -> Article | None:
        columns = _META_COLUMNS + (", text" if with_text else "")
        row = (
            self._conn()
            .execute(f"SELECT {columns} FROM articles WHERE id = ?", (article_id,))
            .fetchone()
        )
        return _article(row) if row else None

    def get_statements(self, article_id: str) -> list[Statement]:
        rows = self._conn().execute(
            f"SELECT {_STATEMENT_COLUMNS} FROM statements WHERE article_id = ? ORDER BY position",
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
            f"SELECT {_META_COLUMNS} FROM articles WHERE id > ? ORDER BY id LIMIT ?",
            (after or "", limit),
        )
        return [_article(row) for row in rows]

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
                    "SELECT source, published_at, title FROM articles WHERE id = ?", (article_id,)
                ).fetchone()
                if meta:
                    rows = conn.execute(
                        "SELECT text, vector FROM statements WHERE article_id = ? "
                        "ORDER BY position",
                        (article_id,),
                    ).fetchall()
                    found[article_id] = _index_data(rows, *meta)
        return found

    def iter_index_data(self, batch: int = 500) -> Iterator[tuple[str, IndexData]]:
        with self._read() as conn:
            # A left join, so that an article without statements is yielded too (empty).
            rows = conn.execute(
                "SELECT a.id, a.source, a.published_at, a.title, s.text, s.vector FROM articles a "
                "LEFT JOIN statements s ON s.article_id = a.id ORDER BY a.id, s.position"
            )
            current: tuple[str, str, str | None, str | None] | None = None
            group: list[tuple[str, bytes]] = []
            for article_id, source, published_at, title, text, blob in rows:
                if current is not None and article_id != current[0]:
                    yield current[0], _index_data(group, *current[1:])
                    group = []
                current = (article_id, source, published_at, title)
                if text is not None:
                    group.append((text, blob))
            if current is not None:
                yield current[0], _index_data(group, *current[1:])

    def resolve(self, keys: Sequence[tuple[str, int]]) -> list[Hit | None]:
        hits: list[Hit | None] = []
        articles: dict[str, Article | None] = {}
        with self._read() as conn:
            for article_id, position in keys:
                row = conn.execute(
                    f"SELECT {_STATEMENT_COLUMNS}, "
                    "(SELECT substr(text, context_start + 1, context_end - context_start) "
                    " FROM articles WHERE id = article_id) "
                    "FROM statements WHERE article_id = ? AND position = ?",
                    (article_id, position),
                ).fetchone()
                if article_id not in articles:
                    meta = conn.execute(
                        f"SELECT {_META_COLUMNS} FROM articles WHERE id = ?", (article_id,)
                    ).fetchone()
                    articles[article_id] = _article(meta) if meta else None
                article = articles[article_id]
                if row is None or article is None:
                    hits.append(None)
                    continue
                hits.append(Hit(article=article, statement=Statement(*row[:6]), context=row[6]))
        return hits

    def count_articles(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM articles").fetchone()[0])

    def ping(self) -> None:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def probe_write(self) -> None:
        """Refused when the file (or its WAL) cannot be written (access(2) also sees immutable
        files and read-only mounts, which an open connection would find only at its next
        write), else take the write lock and give it back at once."""
        if locked := read_only(self.path):
            raise StoreRefusingWrites(f"the SQLite file {locked} is read-only")
        conn = self._conn()
        conn.execute(f"PRAGMA busy_timeout = {PROBE_BUSY_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:  # busy: another writer, so writable
                raise failure("SQLite store failing", exc, self.path) from exc
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _article(row: Sequence[object]) -> Article:
    (id_, title, source, url, published_at, language, content_hash, count, created, updated) = row[
        :10
    ]
    return Article(
        id=str(id_),
        title=str(title),
        source=str(source),
        url=_opt(url),
        published_at=_opt(published_at),
        language=_opt(language),
        content_hash=str(content_hash),
        statement_count=int(count),  # type: ignore[call-overload]
        created_at=str(created),
        updated_at=str(updated),
        text=str(row[10]) if len(row) > 10 else None,
    )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _index_data(
    rows: Sequence[tuple[str, bytes]],
    source: str | None,
    published_at: str | None,
    title: str | None = None,
) -> IndexData:
    if not rows:
        vectors = np.zeros((0, 0), dtype=np.float32)
    else:
        vectors = np.vstack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
    return IndexData(
        texts=[text for text, _ in rows],
        vectors=vectors,
        source=source,
        published_at=published_at,
        title=title,
    )
