"""A process killed with SIGKILL in the middle of upgrading an earlier-layout SQLite store
(service.store.sqlite_layout) leaves the file whole and as it was, its WAL holding nothing that
counts; the next open for writing does the whole upgrade.

The child opens the file with the real SQLiteStore; a trace callback on its connection only
watches the statements go by, and at a chosen point strictly inside the opening transaction
it says so on stdout and blocks reading stdin until the parent kills it."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from service.store.sqlite import SQLiteStore
from service.store.sqlite_layout import columns, earlier_layout
from tests.conftest import ROOT
from tests.test_sqlite_layout import EARLIER_ARTICLES, earlier_store, expected_statements

pytestmark = pytest.mark.slow  # each test runs, and kills, a child process

# Enough vectors (~3 MB, then ~3 MB more copied beside the articles) that the upgrade's
# transaction outgrows SQLite's page cache (2 MB by default) and spills uncommitted pages
# into the WAL before it ends: the leftover WAL then holds frames the next open must ignore.
ARTICLES = {
    **EARLIER_ARTICLES,
    **{
        f"n-{i:03d}": "\n".join(f"Statement {j} of article {i} says {i * j}." for j in range(5))
        for i in range(400)
    },
}
DIM = 384
WAIT_S = 120  # for the child to reach its point: a bound on a hang, not a synchronisation

CHILD = r"""
import os, sys
from service.store.sqlite import SQLiteStore

path, after, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0


def watch(conn, sql):
    # Called as each statement begins: `after` has run `times` times once the next one begins.
    global seen
    if seen == times:
        print(f"inside in_transaction={conn.in_transaction} next={sql.strip()[:60]!r}", flush=True)
        sys.stdin.readline()  # until killed
        os._exit(3)  # the parent went away without killing us: never commit
    if sql.lstrip().startswith(after):
        seen += 1


class Watched(SQLiteStore):
    def _conn(self):
        conn = super()._conn()
        conn.set_trace_callback(lambda sql: watch(conn, sql))
        return conn


Watched(f"sqlite:///{path}")
print("upgraded without reaching the point", flush=True)
"""

# Where the child is killed: once the statement starting with `after` has run `times` times;
# and whether the transaction has spilled pages into the WAL by then.
MOVES = sum(1 for text in ARTICLES.values() if text)  # one vectors row an article with any
POINTS = {
    "credits column added": ("ALTER TABLE articles ADD COLUMN credits", 1, False),
    "first vectors moved": ("INSERT OR REPLACE INTO article_vectors", 1, False),
    "all vectors moved": ("INSERT OR REPLACE INTO article_vectors", MOVES, True),
    "old statements dropped": ("DROP TABLE statements", 1, True),
    "all but the commit": ("ALTER TABLE statements_without_vectors RENAME", 1, True),
}
EARLIER_TABLES = {"articles", "statements", "changes", "meta"}
CURRENT_TABLES = EARLIER_TABLES | {"article_vectors"}


@contextmanager
def looking(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write, checkpoint or remove the WAL: looking changes nothing."""
    uri = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def contents(conn: sqlite3.Connection) -> dict[str, object]:
    """Every table's definition and rows (in key order), bytes as they are."""
    found: dict[str, object] = {
        "schema": conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    }
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        found[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    return found


def layout(conn: sqlite3.Connection) -> str:
    """'earlier', 'current', or what mix of the two the file is."""
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    inline = "vector" in columns(conn, "statements")
    credits = "credits" in columns(conn, "articles")
    if tables == EARLIER_TABLES and inline and not credits:
        return "earlier"
    if tables == CURRENT_TABLES and not inline and credits:
        return "current"
    return f"a mix: tables {sorted(tables)}, vectors inline {inline}, credits column {credits}"


def assert_as_written(conn: sqlite3.Connection, vectors: dict[str, np.ndarray]) -> None:
    """The earlier layout's rows are the ones earlier_store wrote, vectors byte for byte."""
    articles = dict(conn.execute("SELECT id, text FROM articles").fetchall())
    assert articles == ARTICLES
    rows = conn.execute(
        "SELECT article_id, position, start, end, context_start, context_end, text, vector "
        "FROM statements ORDER BY article_id, position"
    ).fetchall()
    assert len(rows) == sum(len(v) for v in vectors.values())
    for article_id, position, start, end, context_start, context_end, text, blob in rows:
        expected = expected_statements(ARTICLES[article_id])[position]
        assert (start, end, text) == (expected.start, expected.end, expected.text)
        assert (context_start, context_end) == (0, len(ARTICLES[article_id]))
        assert blob == vectors[article_id][position].tobytes()


def kill_inside_the_upgrade(path: Path, after: str, times: int) -> None:
    """Run the child until it says it stopped at its point inside the upgrade's transaction,
    and SIGKILL it there."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), after, str(times)],
        cwd=ROOT,  # this checkout's code first on the child's path
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        ready, _, _ = select.select([child.stdout], [], [], WAIT_S)  # wakes at its line
        line = child.stdout.readline() if ready else f"nothing within {WAIT_S} s"
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert line.startswith("inside in_transaction=True"), line + err
    assert child.returncode == -signal.SIGKILL, err


@pytest.mark.parametrize(("after", "times", "spilled"), POINTS.values(), ids=POINTS.keys())
def test_an_upgrade_killed_half_way_leaves_the_file_whole_and_the_next_open_upgrades_it(
    tmp_path: Path, after: str, times: int, spilled: bool
) -> None:
    path = tmp_path / "earlier.db"
    vectors = earlier_store(path, ARTICLES, DIM)
    with looking(path) as conn:
        before = contents(conn)
        assert_as_written(conn, vectors)

    kill_inside_the_upgrade(path, after, times)

    # What a killed writer leaves: the WAL (the store's journal mode), never checkpointed.
    wal = Path(f"{path}-wal")
    assert wal.exists() and not Path(f"{path}-journal").exists()
    if spilled:  # uncommitted frames of the upgrade, which the WAL's readers must ignore
        assert wal.stat().st_size > 0, "nothing reached the WAL: the leftover is not tested"
    with looking(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert layout(conn) == "earlier"  # killed before COMMIT: none of the upgrade counts
        assert earlier_layout(conn)
        assert contents(conn) == before
        assert_as_written(conn, vectors)
    assert wal.exists()  # still there for the next open to deal with

    store = SQLiteStore(f"sqlite:///{path}")  # the next open for writing: the whole upgrade
    assert store.version() == len(ARTICLES)
    data = store.load_index_data(list(ARTICLES))
    for article_id, text in ARTICLES.items():
        article = store.get_article(article_id)
        assert article is not None and article.text == text and article.credits is None
        assert store.get_statements(article_id) == (expected_statements(text) if text else [])
        assert data[article_id].texts == (text.split("\n") if text else [])
        if text:
            assert data[article_id].vectors.tobytes() == vectors[article_id].tobytes()
    store.close()

    assert not wal.exists()  # the last close checkpointed the upgrade into the file
    with looking(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert layout(conn) == "current"
        assert not earlier_layout(conn)
        assert dict(conn.execute("SELECT article_id, vectors FROM article_vectors")) == {
            article_id: own.tobytes() for article_id, own in vectors.items() if len(own)
        }
        after_upgrade = contents(conn)
    assert after_upgrade["changes"] == before["changes"]
    assert after_upgrade["meta"] == before["meta"]
