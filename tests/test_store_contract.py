"""One contract suite, run against every store backend (the `store` fixture is parametrized).

No model is needed: statements come from the real segmenter, vectors are small random unit
vectors, so the suite checks exactly what goes in comes out.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.core.segment import segment
from service.store import PutResult, Store, StoreUnavailable, open_store
from service.types import Article, Statement

DIM = 8

TEXT = (
    "Kallas slams Trump\n"
    "NATO provides the best security guarantee for Ukraine, Kaja Kallas said on Thursday. "
    "She spoke in Washington.\n"
    "The U.S. envoy disagreed. Talks continue next week."
)
SHORT_TEXT = "Kallas slams Trump\nTalks continue next week."
UNICODE_TEXT = (
    "Café résumé: 😀 Zürich naïve coöperation.\n"
    "北京的会谈在周一举行。 Émilie said “ça va” 🇪🇺 twice.\n"
    "Combining e\u0301 accents and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 survive. Последнее предложение здесь."
)


def unit_vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclasses.dataclass
class Doc:
    """An article ready to put, with the statements and vectors that go with it."""

    article: Article
    statements: list[Statement]
    vectors: np.ndarray

    def put(self, store: Store) -> PutResult:
        return store.put_article(self.article, self.statements, self.vectors)


def make_doc(
    article_id: str, text: str = TEXT, seed: int = 0, content_hash: str | None = None, **meta
) -> Doc:
    statements = segment(text)
    fields: dict[str, object] = {
        "title": f"Title of {article_id}",
        "source": "Test Wire",
        "url": f"https://example.org/{article_id}",
        "published_at": "2025-02-28",
        "language": "en",
        "created_at": "2025-03-01T10:00:00Z",
        "updated_at": "2025-03-01T10:00:00Z",
    }
    fields.update(meta)
    article = Article(
        id=article_id,
        content_hash=content_hash or f"hash-{article_id}-{seed}-{len(text)}",
        statement_count=len(statements),
        text=text,
        **fields,  # type: ignore[arg-type]
    )
    return Doc(article, statements, unit_vectors(len(statements), seed))


def without_text(article: Article) -> Article:
    return dataclasses.replace(article, text=None)


def all_ids(store: Store, limit: int = 3) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while page := store.list_articles(limit=limit, after=after):
        assert len(page) <= limit
        ids.extend(a.id for a in page)
        after = page[-1].id
    return ids


# -- writes and reads -------------------------------------------------------------------------


def test_fresh_store_is_empty(store: Store) -> None:
    assert store.version() == 0
    assert store.count_articles() == 0
    assert store.list_articles(limit=10) == []
    assert store.changes_since(0).article_ids == []
    assert list(store.iter_index_data()) == []
    store.ping()


def test_put_get_round_trip(store: Store) -> None:
    doc = make_doc("art-1", seed=1)
    assert len(doc.statements) == 5
    result = doc.put(store)
    assert result.created is True
    assert result.version == store.version() == 1

    assert store.get_article("art-1") == doc.article
    assert store.get_article("art-1", with_text=False) == without_text(doc.article)
    stored = store.get_statements("art-1")
    assert stored == doc.statements
    for s in stored:
        assert TEXT[s.start : s.end] == s.text
        assert TEXT[s.context_start : s.context_end].find(s.text) >= 0
    assert store.list_articles(limit=10) == [without_text(doc.article)]


def test_optional_fields_round_trip_as_none(store: Store) -> None:
    doc = make_doc("bare", url=None, published_at=None, language=None)
    doc.put(store)
    got = store.get_article("bare")
    assert got == doc.article
    assert got is not None and (got.url, got.published_at, got.language) == (None, None, None)


def test_missing_article_reads_as_absent(store: Store) -> None:
    assert store.get_article("nope") is None
    assert store.get_article("nope", with_text=False) is None
    assert store.get_statements("nope") == []
    assert store.load_index_data(["nope"]) == {}
    assert store.resolve([("nope", 0)]) == [None]


def test_replace_with_fewer_statements_leaves_nothing_stale(store: Store) -> None:
    first = make_doc("art-1", seed=1)
    second = make_doc("art-1", text=SHORT_TEXT, seed=2, title="Replaced title")
    assert len(second.statements) < len(first.statements)
    assert first.put(store).created is True
    assert second.put(store).created is False

    assert store.get_article("art-1") == second.article
    assert store.get_statements("art-1") == second.statements
    data = store.load_index_data(["art-1"])["art-1"]
    assert data.texts == [s.text for s in second.statements]
    np.testing.assert_array_equal(data.vectors, second.vectors)
    assert store.resolve([("art-1", len(second.statements))]) == [None]
    assert store.resolve([("art-1", len(first.statements) - 1)]) == [None]
    assert store.count_articles() == 1
    # The old content hash no longer names the article.
    assert store.find_by_hash(first.article.content_hash) is None
    assert store.find_by_hash(second.article.content_hash) == "art-1"


def test_version_strictly_increases_on_every_write(store: Store) -> None:
    versions = [store.version()]

    def record(reported: int | None = None) -> None:
        current = store.version()
        if reported is not None:
            assert reported == current
        assert current > versions[-1]
        versions.append(current)

    record(make_doc("a", seed=1).put(store).version)
    record(make_doc("b", seed=2).put(store).version)
    record(make_doc("a", seed=3).put(store).version)  # replace
    record(make_doc("a", seed=3).put(store).version)  # identical content is still a write
    assert store.delete_article("b") is True
    record()
    assert store.delete_article("b") is False
    assert store.version() == versions[-1], "a delete that deletes nothing is not a change"
    record(make_doc("b", seed=4).put(store).version)  # re-create after delete
    assert versions[0] == 0


def test_delete(store: Store) -> None:
    keep = make_doc("keep", seed=1)
    gone = make_doc("gone", seed=2)
    keep.put(store)
    gone.put(store)

    assert store.delete_article("gone") is True
    assert store.delete_article("gone") is False
    assert store.delete_article("never-existed") is False

    assert store.get_article("gone") is None
    assert store.get_statements("gone") == []
    assert [a.id for a in store.list_articles(limit=10)] == ["keep"]
    assert store.find_by_hash(gone.article.content_hash) is None
    assert store.load_index_data(["gone", "keep"]).keys() == {"keep"}
    assert [article_id for article_id, _ in store.iter_index_data()] == ["keep"]
    assert store.resolve([("gone", 0), ("keep", 0)])[0] is None
    assert store.count_articles() == 1
    # The survivor is untouched.
    assert store.get_article("keep") == keep.article
    assert store.get_statements("keep") == keep.statements


def test_changes_since(store: Store) -> None:
    for i, article_id in enumerate(["a", "b", "c"]):
        make_doc(article_id, seed=i).put(store)
    assert sorted(store.changes_since(0).article_ids) == ["a", "b", "c"]
    mark = store.version()

    make_doc("b", seed=10).put(store)
    store.delete_article("c")
    make_doc("d", seed=11).put(store)
    make_doc("b", seed=12).put(store)  # written twice: named once
    store.delete_article("zzz")  # not a change

    changes = store.changes_since(mark)
    assert changes.version == store.version() == mark + 4
    assert sorted(changes.article_ids) == ["b", "c", "d"]
    assert len(changes.article_ids) == len(set(changes.article_ids))

    caught_up = store.changes_since(changes.version)
    assert caught_up.version == changes.version
    assert caught_up.article_ids == []
    # From the start: every article ever written, deleted ones included (so indexes drop them).
    assert sorted(store.changes_since(0).article_ids) == ["a", "b", "c", "d"]


def test_find_by_hash(store: Store) -> None:
    make_doc("x", content_hash="h-x").put(store)
    make_doc("y", content_hash="h-y").put(store)
    assert store.find_by_hash("h-x") == "x"
    assert store.find_by_hash("h-y") == "y"
    assert store.find_by_hash("h-unknown") is None


def test_find_by_hash_with_shared_content(store: Store) -> None:
    """Two ids may hold the same content (ids given by the client): each still finds it."""
    make_doc("b", content_hash="same").put(store)
    make_doc("a", content_hash="same").put(store)
    assert store.find_by_hash("same") in {"a", "b"}

    make_doc("b", content_hash="other").put(store)  # b moves away: a still has it
    assert store.find_by_hash("same") == "a"
    assert store.find_by_hash("other") == "b"

    make_doc("c", content_hash="other").put(store)
    assert store.delete_article("c") is True  # c goes: b still has it
    assert store.find_by_hash("other") == "b"

    store.delete_article("a")
    assert store.find_by_hash("same") is None


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_list_articles_cursor_paging(store: Store, limit: int) -> None:
    ids = ["m", "c", "a10", "a2", "z", "b", "a1"]  # written out of order
    for i, article_id in enumerate(ids):
        make_doc(article_id, text=SHORT_TEXT, seed=i).put(store)
    assert all_ids(store, limit=limit) == sorted(ids)

    first = store.list_articles(limit=3)
    assert [a.id for a in first] == ["a1", "a10", "a2"]
    assert all(a.text is None for a in first)
    assert first[0] == without_text(make_doc("a1", text=SHORT_TEXT, seed=6).article)
    assert [a.id for a in store.list_articles(limit=3, after="a2")] == ["b", "c", "m"]
    assert [a.id for a in store.list_articles(limit=3, after="b0")] == ["c", "m", "z"]
    assert store.list_articles(limit=3, after="z") == []


def test_index_data_is_what_was_put(store: Store) -> None:
    docs = {f"art-{i}": make_doc(f"art-{i}", seed=i) for i in range(5)}
    docs["art-short"] = make_doc("art-short", text=SHORT_TEXT, seed=9)
    for doc in docs.values():
        doc.put(store)

    loaded = store.load_index_data(["art-3", "missing", "art-short", "art-0"])
    assert loaded.keys() == {"art-3", "art-short", "art-0"}
    for article_id, data in loaded.items():
        check_index_data(docs[article_id], data.texts, data.vectors)

    iterated = list(store.iter_index_data(batch=2))
    assert sorted(article_id for article_id, _ in iterated) == sorted(docs)
    for article_id, data in iterated:
        check_index_data(docs[article_id], data.texts, data.vectors)


def check_index_data(doc: Doc, texts: list[str], vectors: np.ndarray) -> None:
    assert texts == [s.text for s in doc.statements]
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(doc.statements), DIM)
    np.testing.assert_array_equal(vectors, doc.vectors)


def test_resolve(store: Store) -> None:
    doc = make_doc("art-1", seed=1)
    other = make_doc("art-2", text=SHORT_TEXT, seed=2)
    doc.put(store)
    other.put(store)

    keys = [
        ("art-1", 2),
        ("missing", 0),
        ("art-2", 1),
        ("art-1", 0),
        ("art-1", 99),
        ("art-1", -1),
        ("art-1", 4),
    ]
    hits = store.resolve(keys)
    assert len(hits) == len(keys)
    assert [h is None for h in hits] == [False, True, False, False, True, True, False]
    for (article_id, position), hit in zip(keys, hits, strict=True):
        if hit is None:
            continue
        source = doc if article_id == "art-1" else other
        statement = source.statements[position]
        assert hit.statement == statement
        assert hit.article == without_text(source.article)
        text = source.article.text or ""
        assert hit.context == text[statement.context_start : statement.context_end]
        assert statement.text in hit.context
    assert store.resolve([]) == []


def test_resolve_many_keys_in_order_with_repeats(store: Store) -> None:
    """More keys than one query binds, repeats and misses: one hit a key, in key order."""
    from service.store import sqlite

    docs = [make_doc(f"many-{i}", text=SHORT_TEXT, seed=i) for i in range(8)]
    for doc in docs:
        doc.put(store)
    keys = [(d.article.id, s.position) for d in docs for s in d.statements]
    keys = [*keys, ("missing", 0), *keys[::-1]] * (sqlite.RESOLVE_CHUNK // len(keys) + 2)
    assert len(keys) > sqlite.RESOLVE_CHUNK
    hits = store.resolve(keys)
    assert len(hits) == len(keys)
    by_id = {d.article.id: d for d in docs}
    for (article_id, position), hit in zip(keys, hits, strict=True):
        if article_id == "missing":
            assert hit is None
            continue
        assert hit is not None
        assert hit.statement == by_id[article_id].statements[position]
        assert hit.article == without_text(by_id[article_id].article)


def test_article_without_statements_round_trips(store: Store) -> None:
    doc = make_doc("empty", text="... !!! ---")
    assert doc.statements == []
    assert doc.put(store).created is True

    assert store.get_article("empty") == doc.article
    assert store.get_statements("empty") == []
    data = store.load_index_data(["empty"])["empty"]
    assert data.texts == []
    assert data.vectors.shape[0] == 0
    assert [article_id for article_id, _ in store.iter_index_data()] == ["empty"]
    assert store.resolve([("empty", 0)]) == [None]
    assert store.count_articles() == 1
    assert store.delete_article("empty") is True
    assert store.get_article("empty") is None


def test_unicode_offsets_survive(store: Store) -> None:
    doc = make_doc("unicode-é", text=UNICODE_TEXT, seed=5, title="Zürich 😀 北京")
    assert len(doc.statements) >= 4
    doc.put(store)

    assert store.get_article("unicode-é") == doc.article
    assert store.get_statements("unicode-é") == doc.statements
    hits = store.resolve([("unicode-é", s.position) for s in doc.statements])
    for statement, hit in zip(doc.statements, hits, strict=True):
        assert hit is not None
        assert hit.statement == statement
        assert hit.statement.text == UNICODE_TEXT[statement.start : statement.end]
        assert hit.context == UNICODE_TEXT[statement.context_start : statement.context_end]
        assert hit.article.title == "Zürich 😀 北京"
    assert [a.id for a in store.list_articles(limit=5)] == ["unicode-é"]


@pytest.mark.parametrize("vector_count", [0, 4, 6])
def test_failed_put_leaves_nothing_behind(store: Store, vector_count: int) -> None:
    doc = make_doc("art-1", seed=1)
    assert len(doc.statements) == 5
    with pytest.raises(ValueError):
        store.put_article(doc.article, doc.statements, unit_vectors(vector_count, 3))
    assert store.get_article("art-1") is None
    assert store.get_statements("art-1") == []
    assert store.version() == 0
    assert store.changes_since(0).article_ids == []
    assert store.find_by_hash(doc.article.content_hash) is None
    assert store.count_articles() == 0


def test_failed_replace_keeps_the_old_article(store: Store) -> None:
    old = make_doc("art-1", text=SHORT_TEXT, seed=1)
    old.put(store)
    version = store.version()
    new = make_doc("art-1", seed=2)
    with pytest.raises(ValueError):
        store.put_article(new.article, new.statements, new.vectors[:-1])
    assert store.version() == version
    assert store.get_article("art-1") == old.article
    assert store.get_statements("art-1") == old.statements
    np.testing.assert_array_equal(store.load_index_data(["art-1"])["art-1"].vectors, old.vectors)


def test_count_articles(store: Store) -> None:
    assert store.count_articles() == 0
    for i in range(3):
        make_doc(f"art-{i}", seed=i).put(store)
    assert store.count_articles() == 3
    make_doc("art-1", seed=7).put(store)
    assert store.count_articles() == 3
    store.delete_article("art-0")
    assert store.count_articles() == 2


def test_two_handles_on_one_store_share_everything(
    store: Store, store_url: tuple[str, str]
) -> None:
    url, prefix = store_url
    other = open_store(url, redis_prefix=prefix)
    try:
        doc = make_doc("shared", seed=1)
        doc.put(store)
        assert other.get_article("shared") == doc.article
        assert other.version() == store.version()
        assert other.delete_article("shared") is True
        assert store.get_article("shared") is None
        assert store.changes_since(1).article_ids == ["shared"]
    finally:
        other.close()


def test_ping(store: Store) -> None:
    store.ping()
    store.ping()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unreachable_redis() -> Iterator[Store]:
    opened = open_store(f"redis://127.0.0.1:{closed_port()}/0", redis_timeout_s=0.5)
    yield opened
    opened.close()


def test_unreachable_redis_is_store_unavailable(unreachable_redis: Store) -> None:
    with pytest.raises(StoreUnavailable):
        unreachable_redis.ping()
    with pytest.raises(StoreUnavailable):
        unreachable_redis.version()


def test_if_changed_leaves_the_same_content_unchanged_under_concurrent_writers(
    store: Store,
) -> None:
    """Eight writers of one article at once, each through its own connection: the compare is
    inside the write, so one creates it and the other seven find it unchanged (no version bump);
    other content under the id still replaces it."""
    doc = make_doc("same")
    writers = 8
    barrier = threading.Barrier(writers)

    def write(_: int) -> PutResult:
        own = open_store(store.url, redis_prefix=getattr(store, "prefix", "factcheck"))
        try:
            barrier.wait(timeout=30)
            return own.put_article(doc.article, doc.statements, doc.vectors, if_changed=True)
        finally:
            own.close()

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(write, range(writers)))
    assert sorted((r.created, r.unchanged) for r in results) == [(False, True)] * 7 + [
        (True, False)
    ]
    assert store.version() == 1 and {r.version for r in results} == {1}
    new = make_doc("same", SHORT_TEXT, seed=1)
    replaced = store.put_article(new.article, new.statements, new.vectors, if_changed=True)
    assert (replaced.created, replaced.unchanged, replaced.version) == (False, False, 2)
    assert store.get_statements("same") == new.statements
