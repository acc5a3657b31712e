"""What an article credits (service.core.outlets.credits) is found once at ingest and kept with
the article in every store, so a check weighing origins reads no article text (a store made
before the field existed: tests/test_sqlite_layout.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from flask.testing import FlaskClient

from service.core import provenance
from service.store import Store
from service.store.redis_schema import article_from_meta
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


def test_provenance_takes_the_kept_credits_without_the_text(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty cache: the fallback below must read this backend's text, not an earlier run's.
    monkeypatch.setattr(provenance, "_credit_cache", {})
    # The stored text credits WNP; the kept field says otherwise, and is what counts.
    doc = make_doc("kept", text=CREDITING)
    doc = dataclasses.replace(doc, article=dataclasses.replace(doc.article, credits=("AFP",)))
    doc.put(store)
    article = store.get_article("kept", with_text=False)
    assert article is not None
    assert provenance._credits(store, article) == ("AFP",)
    unknown = dataclasses.replace(article, credits=None)  # as a store made earlier reads it
    assert provenance._credits(store, unknown) == ("WNP",)


def test_a_redis_article_of_a_later_release_reads_back() -> None:
    # Replicas of two releases share one Redis during a rolling upgrade: fields this release
    # does not know are left out, not a TypeError on every read.
    meta = {
        "id": "a", "title": "T", "source": "S", "content_hash": "h", "statement_count": 1,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "credits": ["WNP"], "kept_by_a_later_release": 1,
    }  # fmt: skip
    article = article_from_meta(json.dumps(meta).encode(), b"text")
    assert article.credits == ("WNP",) and article.text == "text"
