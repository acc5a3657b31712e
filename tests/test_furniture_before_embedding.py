"""Page furniture (menus, cookie lines, share links) is dropped before the model sees a text, on
every ingest path: the single POST, the batch POST and the bulk loader all embed only the
statements that segmentation kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from service.config import Config
from service.core import batch, bulk_ingest
from service.core.embed import Embedder
from service.core.ingest import Limits, ingest_article
from service.store.base import Store

FURNITURE = [
    "Skip to content",
    "Sign in",
    "Most Viewed",
    "We use cookies to improve your experience on our site.",
    "Accept all cookies",
    "Manage cookie settings",
    "Share on Facebook",
    "Loading comments...",
    "Reuse this content",
]
REPORT = [
    "Tidal power plant opens in Brittany",
    "The barrage on the river estuary began feeding the grid on Tuesday.",
    "Its operator said the turbines would supply 40,000 homes.",
    "Fishermen had opposed the project for a decade.",
]
PAGE = "\n".join(FURNITURE[:5] + REPORT[:2] + FURNITURE[5:7] + REPORT[2:] + FURNITURE[7:])
FIELDS = {"id": "tidal", "title": "Tidal power", "source": "Example Daily", "text": PAGE}


class Recording:
    """The real embedder, with a record of every text it was asked to encode."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.seen: list[str] = []
        self.name, self.dimension = embedder.name, embedder.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.embedder.encode(texts)


def _single(store: Store, model: Any) -> None:
    ingest_article(store, model, dict(FIELDS))


def _batch(store: Store, model: Any) -> None:
    batch.ingest_records(store, model, [dict(FIELDS)], Limits.of(Config()))


def _bulk(store: Store, model: Any) -> None:
    bulk_ingest.ingest_records(
        store, model, [bulk_ingest.Source(dict(FIELDS), "page")], Limits.of(Config()),
        on_result=lambda _: None, on_reject=lambda *_: None,
    )  # fmt: skip


@pytest.mark.parametrize("path", [_single, _batch, _bulk], ids=["single", "batch", "bulk"])
def test_the_model_only_sees_the_report(
    path: Callable[[Store, Any], None], store: Store, embedder: Embedder
) -> None:
    model = Recording(embedder)
    path(store, model)
    assert sorted(model.seen) == sorted(REPORT)  # the batch path sorts by length
    article = store.get_article_with_statements("tidal")
    assert article is not None
    assert [s.text for s in article[1]] == REPORT


def test_furniture_is_neither_stored_nor_found(client: FlaskClient) -> None:
    assert client.post("/v1/articles", json=FIELDS).status_code == 201
    listed = client.get("/v1/articles/tidal").get_json()
    assert [s["text"] for s in listed["statement_list"]] == REPORT
    answer = client.post("/v1/check", json={"claim": "Accept all cookies", "top_k": 10}).get_json()
    assert answer["index"]["statements"] == len(REPORT)
    assert all(e["text"] in REPORT for e in answer["evidence"])
