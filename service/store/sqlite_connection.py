"""The SQLite store's connections: one a thread (a forked child opens its own), read-only
where asked, and one transaction a write or a read; the schema made on first open."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from service.store.base import StoreRefusingWrites, StoreUnavailable
from service.store.sqlite_failures import failure, read_only
from service.store.sqlite_layout import earlier_layout, upgrade
from service.store.sqlite_schema import SCHEMA

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


class SQLiteConnections:
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
            self._refuse_an_earlier_layout()
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        try:
            conn.executescript("BEGIN IMMEDIATE;" + SCHEMA)
            upgrade(conn, self.path)  # a file made by an earlier release
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a read-only file or folder, a full disk, not a database
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise failure(f"cannot open the SQLite store {self.path}", exc, self.path) from exc

    def _refuse_an_earlier_layout(self) -> None:
        """A read-only open cannot upgrade the file, and the current code cannot read an
        earlier layout: say what to run instead of failing on a missing table."""
        try:
            earlier = earlier_layout(self._conn())
        except sqlite3.Error as exc:
            raise failure(f"cannot open the SQLite store {self.path}", exc, self.path) from exc
        if earlier:
            raise StoreRefusingWrites(
                f"the SQLite store {self.path} was made by an earlier release; open it once "
                "for writing (factcheck serve, or factcheck ingest) to bring it up to date"
            )

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
