"""The benchmark's bulk-load path: a store filled by ``service.store.bulk.bulk_load`` (as
``python -m bench`` fills its corpora) answers exactly as one filled through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from bench.build import line_statements, to_article
from bench.corpus import articles, claims
from service import create_app
from service.core.embed import Embedder
from service.core.segment import segment
from service.store import open_store
from service.store.bulk import bulk_load

BENCH_ARTICLES = list(articles(60, per_article=6, seed=3))


def test_line_statements_are_what_segment_makes() -> None:
    """The bench skips pysbd for speed; its statements must still be the segmenter's."""
    for bench in articles(400, seed=4):
        text = str(bench.fields["text"])
        assert line_statements(text) == segment(text)


def _answers(app: Flask, claim_list: list[str]) -> list[Any]:
    client = app.test_client()
    out = []
    for claim in claim_list:
        body = client.post("/v1/check", json={"claim": claim, "top_k": 5}).get_json()
        out.append(
            [
                (e["statement_id"], e["text"], e["start"], e["end"], e["score"])
                for e in body["evidence"]
            ]
        )
    return out


@pytest.mark.slow  # two stores filled, every claim checked on both
def test_bulk_loaded_store_answers_like_api_ingested(
    store_url: tuple[str, str], tmp_path: Path, embedder: Embedder
) -> None:
    # Reference: every article through POST /v1/articles into a SQLite store.
    via_api = create_app({"store": f"sqlite:///{tmp_path / 'api.db'}"})
    client = via_api.test_client()
    for bench in BENCH_ARTICLES:
        assert client.post("/v1/articles", json=bench.fields).status_code == 201

    # Under test: the same articles bulk-loaded into the backend of this run.
    url, prefix = store_url
    store = open_store(url, redis_prefix=prefix)
    items = []
    for bench in BENCH_ARTICLES:
        statements = line_statements(str(bench.fields["text"]))
        vectors = embedder.encode([s.text for s in statements])
        items.append((to_article(bench, len(statements)), statements, vectors))
    assert bulk_load(store, items, batch=7) == sum(len(i[1]) for i in items)
    store.close()
    bulk = create_app({"store": url, "redis_prefix": prefix})

    probe = [*claims(12, seed=3), str(BENCH_ARTICLES[5].fields["text"]).split("\n")[2]]
    expected, got = _answers(via_api, probe), _answers(bulk, probe)
    assert any(expected), "the probe claims should find evidence"
    for want, have in zip(expected, got, strict=True):
        assert [w[:4] for w in want] == [h[:4] for h in have]
        assert [h[4] for h in have] == pytest.approx([w[4] for w in want], abs=1e-4)

    # Articles read back the same, apart from when they were written.
    bulk_client = bulk.test_client()
    for bench in BENCH_ARTICLES[:5]:
        path = f"/v1/articles/{bench.fields['id']}"
        a, b = client.get(path).get_json(), bulk_client.get(path).get_json()
        for body in (a, b):
            body.pop("created_at"), body.pop("updated_at")
        assert a == b
    for app in (via_api, bulk):
        app.extensions["factcheck"].store.close()


def test_bulk_load_rejects_mismatched_vectors(tmp_path: Path, embedder: Embedder) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    bench = BENCH_ARTICLES[0]
    statements = line_statements(str(bench.fields["text"]))
    with pytest.raises(ValueError, match="one vector per statement"):
        bulk_load(store, [(to_article(bench, 1), statements, embedder.encode(["only one"]))])
    assert store.count_articles() == 0
