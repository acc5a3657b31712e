"""What an article credits (service.core.outlets.credits) is found once at ingest and kept with
the article in every store, so a check weighing origins reads no article text; a store made
before the field existed still opens, and its articles fall back to reading the text."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service.core import provenance
from service.store import Store, open_store
from service.store.sqlite import SQLiteStore
from tests.test_store_contract import make_doc

CREDITING = "Floods closed the port\nThe mayor told WNP on Monday that the port would reopen."


@pytest.mark.parametrize("kept", [("WNP",), (), None])
def test_credits_round_trip_through_every_read(store: Store, kept: tuple[str, ...] | None) -> None:
    doc = make_doc("credited", text=CREDITING)
    doc = dataclasses.replace(doc, article=dataclasses.replace(doc.article, credits=kept))
    doc.put(store)
    article = store.get_article("credited", with_text=False)
    assert article is not None and article.credits == kept
    [listed] = store.list_articles(limit=5)
    assert listed.credits == kept
    [hit] = store.resolve([("credited", 1)])
    assert hit is not None and hit.article.credits == kept


def test_ingest_keeps_what_the_text_credits(client: FlaskClient, store: Store) -> None:
    body = {"id": "port", "title": "Port", "source": "Harbour Gazette", "text": CREDITING}
    assert client.post("/v1/articles", json=body).status_code == 201
    article = store.get_article("port", with_text=False)
    assert article is not None and article.credits == ("WNP",)


def test_provenance_takes_the_kept_credits_without_the_text(store: Store) -> None:
    # The stored text credits WNP; the kept field says otherwise, and is what counts.
    doc = make_doc("kept", text=CREDITING)
    doc = dataclasses.replace(doc, article=dataclasses.replace(doc.article, credits=("AFP",)))
    doc.put(store)
    article = store.get_article("kept", with_text=False)
    assert article is not None
    assert provenance._credits(store, article) == ("AFP",)
    unknown = dataclasses.replace(article, credits=None)  # as a store made earlier reads it
    assert provenance._credits(store, unknown) == ("WNP",)


OLD_ARTICLES = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, url TEXT,
    published_at TEXT, language TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    statement_count INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
INSERT INTO articles VALUES ('old', 'Old', 'Desk', NULL, NULL, NULL,
    'The mayor told WNP so.', 'h', 0, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
"""


@pytest.mark.parametrize("read_only", [False, True])
def test_a_store_made_before_credits_were_kept_still_opens(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_ARTICLES)
    store = SQLiteStore(f"sqlite:///{path}", read_only=read_only)
    old = store.get_article("old", with_text=False)
    assert old is not None and old.credits is None
    assert provenance._credits(store, old) == ("WNP",)
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(articles)")}
    assert ("credits" in columns) is not read_only  # read-only opens change nothing
    if not read_only:
        doc = make_doc("new", text=CREDITING)
        doc = dataclasses.replace(doc, article=dataclasses.replace(doc.article, credits=("WNP",)))
        doc.put(store)
        new = store.get_article("new", with_text=False)
        assert new is not None and new.credits == ("WNP",)
    store.close()
    reopened = open_store(f"sqlite:///{path}")  # the column is added once, not again
    ids = [a.id for a in reopened.list_articles(limit=5)]
    assert ids == (["old"] if read_only else ["new", "old"])
    reopened.close()
