"""A SQLite store made by an earlier release (vectors inline in statement rows, no credits
column) opens with the current code: upgraded once when opened for writing, with every article,
statement and vector as it was; refused with what to do when opened read-only."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from service.core import provenance
from service.store import StoreRefusingWrites, StoreUnavailable
from service.store.sqlite import SQLiteStore
from service.store.sqlite_layout import columns
from service.types import Statement

EARLIER_SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, url TEXT,
    published_at TEXT, language TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    statement_count INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX articles_by_hash ON articles(content_hash);
CREATE TABLE statements (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    context_start INTEGER NOT NULL, context_end INTEGER NOT NULL, text TEXT NOT NULL,
    vector BLOB NOT NULL, PRIMARY KEY (article_id, position)
) WITHOUT ROWID;
CREATE TABLE changes (article_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX changes_by_seq ON changes(seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta(key, value) VALUES ('seq', 2);
"""
WHEN = "2025-01-01T00:00:00Z"
# (id, text: one statement a line), written the way the earlier release wrote them.
EARLIER_ARTICLES = {
    "b-port": "Floods closed the port\nThe mayor told WNP the port would reopen.",
    "a-empty": "",  # an article without statements
}


def earlier_store(
    path: Path, articles: dict[str, str] = EARLIER_ARTICLES, dim: int = 8
) -> dict[str, np.ndarray]:
    """A file in the earlier layout holding `articles`; returns their statements' vectors."""
    rng = np.random.default_rng(1)
    vectors = {}
    with sqlite3.connect(path) as conn:
        conn.executescript(EARLIER_SCHEMA)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (len(articles),))
        for seq, (article_id, text) in enumerate(articles.items(), start=1):
            lines = text.split("\n") if text else []
            conn.execute(
                "INSERT INTO articles VALUES (?, ?, 'Desk', NULL, NULL, 'en', ?, ?, ?, ?, ?)",
                (article_id, article_id.title(), text, f"h-{article_id}", len(lines), WHEN, WHEN),
            )
            conn.execute("INSERT INTO changes VALUES (?, ?)", (article_id, seq))
            own = rng.normal(size=(len(lines), dim)).astype(np.float32)
            vectors[article_id] = own
            start = 0
            for position, line in enumerate(lines):
                conn.execute(
                    "INSERT INTO statements VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (article_id, position, start, start + len(line), 0, len(text), line,
                     own[position].tobytes()),
                )  # fmt: skip
                start += len(line) + 1
    return vectors


def expected_statements(text: str) -> list[Statement]:
    out, start = [], 0
    for position, line in enumerate(text.split("\n")):
        out.append(Statement(position, start, start + len(line), line, 0, len(text)))
        start += len(line) + 1
    return out


def test_an_earlier_store_is_upgraded_once_with_everything_in_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "earlier.db"
    vectors = earlier_store(path)
    with caplog.at_level(logging.WARNING, logger="service.store.sqlite_layout"):
        store = SQLiteStore(f"sqlite:///{path}")
    assert any("rewriting" in r.getMessage() for r in caplog.records)
    conn = sqlite3.connect(path)
    assert "vector" not in columns(conn, "statements")
    assert "credits" in columns(conn, "articles")

    assert store.version() == 2
    port = store.get_article("b-port")
    assert port is not None and port.text == EARLIER_ARTICLES["b-port"]
    assert port.credits is None  # unknown: read from the text when a check needs it
    assert provenance._credits(store, port) == ("WNP",)
    assert store.get_statements("b-port") == expected_statements(EARLIER_ARTICLES["b-port"])
    [hit] = store.resolve([("b-port", 1)])
    assert hit is not None and hit.statement.text == "The mayor told WNP the port would reopen."
    loaded = store.load_index_data(["b-port", "a-empty"])
    np.testing.assert_array_equal(loaded["b-port"].vectors, vectors["b-port"])
    assert loaded["a-empty"].texts == []
    every = dict(store.iter_index_data())
    assert set(every) == {"a-empty", "b-port"}
    np.testing.assert_array_equal(every["b-port"].vectors, vectors["b-port"])
    assert every["b-port"].texts == EARLIER_ARTICLES["b-port"].split("\n")
    store.close()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="service.store.sqlite_layout"):
        again = SQLiteStore(f"sqlite:///{path}")  # nothing left to upgrade: opens as it is
    assert caplog.records == []
    np.testing.assert_array_equal(
        again.load_index_data(["b-port"])["b-port"].vectors, vectors["b-port"]
    )
    assert again.delete_article("b-port")
    assert again.load_index_data(["b-port"]) == {}
    assert conn.execute("SELECT count(*) FROM article_vectors").fetchone() == (0,)
    again.close()


@pytest.mark.parametrize("earlier", [True, False])
def test_a_read_only_open_of_an_earlier_store_says_what_to_run(
    tmp_path: Path, earlier: bool
) -> None:
    path = tmp_path / "store.db"
    if earlier:
        earlier_store(path)
    else:
        SQLiteStore(f"sqlite:///{path}").close()
    if earlier:
        with pytest.raises(StoreRefusingWrites, match="open it once for writing"):
            SQLiteStore(f"sqlite:///{path}", read_only=True)
        assert "vector" in columns(sqlite3.connect(path), "statements")  # left as it was
    else:
        SQLiteStore(f"sqlite:///{path}", read_only=True).close()


def test_an_upgraded_file_has_the_tables_of_a_new_one(tmp_path: Path) -> None:
    earlier_store(tmp_path / "earlier.db")
    SQLiteStore(f"sqlite:///{tmp_path / 'earlier.db'}").close()
    SQLiteStore(f"sqlite:///{tmp_path / 'new.db'}").close()

    def shape(name: str) -> dict[str, list[tuple[object, ...]]]:
        conn = sqlite3.connect(tmp_path / name)
        return {
            table: conn.execute(f"PRAGMA table_xinfo({table})").fetchall()
            + conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
            for table in ("articles", "statements", "article_vectors")
        }

    assert shape("earlier.db") == shape("new.db")


def test_an_upgrade_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    # A statement of an article that is not there: its vectors cannot be kept beside an
    # article (a foreign key), so the upgrade fails half-way, and must leave nothing behind.
    path = tmp_path / "earlier.db"
    earlier_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO statements VALUES ('c-orphan', 0, 0, 4, 0, 4, 'Gone', ?)",
            (np.zeros(8, np.float32).tobytes(),),
        )
    before = sqlite3.connect(path).execute("SELECT * FROM statements").fetchall()
    with pytest.raises(StoreUnavailable):
        SQLiteStore(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    assert "vector" in columns(conn, "statements")
    assert conn.execute("SELECT * FROM statements").fetchall() == before
    assert columns(conn, "article_vectors") == set()  # made in the same transaction: gone


def test_statements_without_their_vectors_are_a_damaged_store(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'store.db'}")
    earlier = tmp_path / "earlier.db"
    earlier_store(earlier)
    SQLiteStore(f"sqlite:///{earlier}").close()
    with sqlite3.connect(earlier) as conn:
        conn.execute("DELETE FROM article_vectors")
    damaged = SQLiteStore(f"sqlite:///{earlier}")
    with pytest.raises(ValueError, match="damaged"):
        damaged.load_index_data(["b-port"])
    with pytest.raises(ValueError, match="damaged"):
        dict(damaged.iter_index_data())
    store.close()
