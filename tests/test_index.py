"""The in-process index: dense and BM25 search, compaction, store sync, ingest and check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from service.core.embed import Embedder
from service.core.index import Key, StatementIndex
from service.core.ingest import TooManyStatements, content_hash, ingest_article
from service.core.scoring import CONTEXT_WEIGHT, LEXICAL_WEIGHT
from service.core.search import Options, check_claim
from service.core.segment import segment
from service.core.synced import SyncedIndex
from service.core.tokens import tokenize
from service.store import Store, open_store
from service.store.redis import RedisStore
from service.store.sqlite import SQLiteStore
from service.types import Article, IndexData

DIM = 8
WORDS = [
    "nato",
    "security",
    "guarantee",
    "ukraine",
    "russia",
    "talks",
    "envoy",
    "minister",
    "peace",
    "deal",
    "minerals",
    "ceasefire",
    "summit",
    "europe",
    "alliance",
    "defence",
    "budget",
    "election",
    "court",
    "ruling",
    "weather",
    "storm",
]


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def random_data(rng: np.random.Generator, count: int, words_per_text: int = 6) -> IndexData:
    texts = [" ".join(rng.choice(WORDS, size=words_per_text)) for _ in range(count)]
    return IndexData(texts=texts, vectors=unit(rng.normal(size=(count, DIM))))


class Reference:
    """What the index should hold: the live statements, searched by brute force."""

    def __init__(self) -> None:
        self.articles: dict[str, IndexData] = {}

    def vectors(self) -> dict[Key, np.ndarray]:
        return {
            (article_id, i): data.vectors[i]
            for article_id, data in self.articles.items()
            for i in range(len(data.texts))
        }

    def dense(self, query: np.ndarray, top_k: int) -> list[tuple[Key, float]]:
        scored = [(key, float(vector @ query)) for key, vector in self.vectors().items()]
        scored.sort(key=lambda item: -item[1])
        return scored[:top_k]

    def fresh_index(self) -> StatementIndex:
        index = StatementIndex(DIM)
        for article_id, data in self.articles.items():
            index.replace(article_id, data)
        return index


def assert_dense_matches(index: StatementIndex, reference: Reference, query: np.ndarray) -> None:
    for top_k in (1, 5, 10_000):
        got = index.dense(query, top_k)
        expected = reference.dense(query, top_k)
        assert [key for key, _ in got] == [key for key, _ in expected]
        np.testing.assert_allclose(
            [score for _, score in got], [score for _, score in expected], rtol=1e-5, atol=1e-6
        )


def assert_lexical_matches(index: StatementIndex, fresh: StatementIndex, query: str) -> None:
    """Same hits and (up to float rounding) the same BM25 scores as an index built afresh."""
    got = dict(index.lexical_search(query, 100_000))
    expected = dict(fresh.lexical_search(query, 100_000))
    assert got.keys() == expected.keys()
    for key, score in expected.items():
        assert got[key] == pytest.approx(score, rel=1e-4)
    ranked = [score for _, score in index.lexical_search(query, 100_000)]
    assert ranked == sorted(ranked, reverse=True)


# -- StatementIndex alone ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_search_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index, reference = StatementIndex(DIM), Reference()
    for i in range(6):
        data = random_data(rng, int(rng.integers(1, 9)))
        index.replace(f"art-{i}", data)
        reference.articles[f"art-{i}"] = data
    for _ in range(5):
        assert_dense_matches(index, reference, unit(rng.normal(size=DIM)))
    # A query equal to a stored vector finds that statement first, with cosine 1.
    data = reference.articles["art-3"]
    [(key, score)] = index.dense(data.vectors[0], 1)
    assert key == ("art-3", 0)
    assert score == pytest.approx(1.0, abs=1e-5)


def test_replace_drops_old_rows() -> None:
    rng = np.random.default_rng(7)
    index, reference = StatementIndex(DIM), Reference()
    old = IndexData(
        ["zebra crossing one", "zebra crossing two", "third zebra"], unit(rng.normal(size=(3, DIM)))
    )
    other = random_data(rng, 4)
    index.replace("a", old)
    index.replace("b", other)
    new = IndexData(["giraffe only"], unit(rng.normal(size=(1, DIM))))
    index.replace("a", new)
    reference.articles.update({"a": new, "b": other})

    assert index.stats().statements == 5
    assert index.stats().articles == 2
    assert_dense_matches(index, reference, old.vectors[1])
    assert all(key != ("a", 1) and key != ("a", 2) for key, _ in index.dense(old.vectors[1], 100))
    assert index.lexical_search("zebra", 10) == []
    assert [key for key, _ in index.lexical_search("giraffe", 10)] == [("a", 0)]
    # The replaced article's old rows are gone: no vector is found for position 2.
    assert list(index.vectors_of([("a", 0), ("a", 2)]) @ new.vectors[0]) == [
        pytest.approx(1.0, abs=1e-5),
        0.0,
    ]


def test_remove() -> None:
    rng = np.random.default_rng(8)
    index, reference = StatementIndex(DIM), Reference()
    for article_id in "abc":
        data = random_data(rng, 3)
        index.replace(article_id, data)
        reference.articles[article_id] = data
    index.replace("b", IndexData(["unique aardvark"], unit(rng.normal(size=(1, DIM)))))
    assert [key for key, _ in index.lexical_search("aardvark", 10)] == [("b", 0)]
    index.remove("b")
    del reference.articles["b"]
    index.remove("b")  # removing twice is harmless
    index.remove("never-added")

    assert index.stats().articles == 2
    assert index.stats().statements == 6
    assert index.lexical_search("aardvark", 10) == []
    assert all(key[0] != "b" for key, _ in index.dense(unit(rng.normal(size=DIM)), 100))
    assert_dense_matches(index, reference, unit(rng.normal(size=DIM)))
    index.remove("a")
    index.remove("c")
    assert index.dense(unit(rng.normal(size=DIM)), 5) == []
    assert index.lexical_search("nato", 5) == []
    assert index.stats().statements == 0


def test_compaction_keeps_results_exact() -> None:
    rng = np.random.default_rng(11)
    index, reference = StatementIndex(DIM), Reference()
    for i in range(70):
        data = random_data(rng, 100)
        index.replace(f"art-{i:02d}", data)
        reference.articles[f"art-{i:02d}"] = data
    assert index._used == 7000

    # Removing 60 of 70 articles: the 41st removal leaves 4100 dead rows (> 4096 and > the
    # 2900 live ones), which compacts the index to 2900 rows; the 19 removals after it leave
    # 1900 dead rows masked among the compacted ones.
    for i in range(60):
        index.remove(f"art-{i:02d}")
        del reference.articles[f"art-{i:02d}"]
    assert index._used == 2900, "the index was not compacted"
    assert index.stats().statements == 1000
    assert index.stats().articles == 10

    fresh = reference.fresh_index()
    for _ in range(3):
        assert_dense_matches(index, reference, unit(rng.normal(size=DIM)))
    for query in ("nato guarantee", "storm weather court", "peace deal talks", "unknownword"):
        assert_lexical_matches(index, fresh, query)

    # Rows were remapped: later replaces and removes still hit the right rows.
    replaced = random_data(rng, 5)
    index.replace("art-65", replaced)
    reference.articles["art-65"] = replaced
    index.remove("art-61")
    del reference.articles["art-61"]
    added = random_data(rng, 3)
    index.replace("new", added)
    reference.articles["new"] = added
    fresh = reference.fresh_index()
    assert index.stats().statements == fresh.stats().statements == 808
    assert_dense_matches(index, reference, unit(rng.normal(size=DIM)))
    assert_dense_matches(index, reference, replaced.vectors[2])
    for query in ("alliance defence", "minerals summit europe"):
        assert_lexical_matches(index, fresh, query)


LEXICAL_TEXTS = {
    "g": ["NATO guarantees Ukraine's security.", "The weather was fine all week."],
    "c": ["Talks at the Café Zürich resumed on Monday.", "Russia’s demands were rejected."],
    "x": ["The of and to in is was it.", "A guaranteed loan was signed by the minister."],
}


@pytest.fixture
def lexical_index() -> StatementIndex:
    rng = np.random.default_rng(3)
    index = StatementIndex(DIM)
    for article_id, texts in LEXICAL_TEXTS.items():
        index.replace(article_id, IndexData(texts, unit(rng.normal(size=(len(texts), DIM)))))
    return index


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("guarantee", {("g", 0), ("x", 1)}, id="stem-guarantee"),
        pytest.param("GUARANTEEING", {("g", 0), ("x", 1)}, id="stem-and-case"),
        pytest.param("cafe zurich", {("c", 0)}, id="accents-folded"),
        pytest.param("Zürich", {("c", 0)}, id="accents-in-query"),
        pytest.param("Russia's demand", {("c", 1)}, id="straight-apostrophe"),
        pytest.param("Russia’s demands", {("c", 1)}, id="curly-apostrophe"),
        pytest.param("the of and to in", set(), id="only-stop-words"),
        pytest.param("volcano", set(), id="unknown-term"),
        pytest.param("", set(), id="empty"),
    ],
)
def test_lexical_search(lexical_index: StatementIndex, query: str, expected: set[Key]) -> None:
    hits = lexical_index.lexical_search(query, 10)
    assert {key for key, _ in hits} == expected
    assert all(score > 0 for _, score in hits)


@pytest.mark.parametrize(
    "query", ["common", "rare", "rare common", "unseen"], ids=["many", "few", "mixed", "none"]
)
def test_bm25_scores_follow_the_formula(query: str) -> None:
    """Both ways of summing a claim's term scores (sorting few matches, one slot a row for
    many) give the textbook BM25 of every matching row."""
    from service.core.lexical import BM25

    texts = [f"common words row {i}" + (" rare" if i in (150, 190) else "") for i in range(200)]
    bm25 = BM25()
    for row, text in enumerate(texts):
        bm25.add(row, text)
    alive = np.ones(len(texts), dtype=bool)
    rows, scores = bm25.search(query, alive, len(texts))
    docs = [tokenize(t) for t in texts]
    avg = sum(len(d) for d in docs) / len(docs)
    expected: dict[int, float] = {}
    for term in dict.fromkeys(tokenize(query)):
        df = sum(term in d for d in docs)
        if df == 0:
            continue
        idf = np.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for row, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                norm = 1.2 * (1 - 0.75 + 0.75 * len(d) / avg)
                expected[row] = expected.get(row, 0.0) + idf * tf * 2.2 / (tf + norm)
    assert rows.tolist() == sorted(expected)
    assert scores.tolist() == pytest.approx([expected[r] for r in sorted(expected)], rel=1e-5)


def test_stop_words_do_not_change_scores(lexical_index: StatementIndex) -> None:
    plain = lexical_index.lexical_search("guarantee security", 10)
    padded = lexical_index.lexical_search("the guarantee of the security, it is", 10)
    assert plain == padded
    # The statement with both terms ranks first.
    assert plain[0][0] == ("g", 0)


def test_curly_and_straight_apostrophes_tokenize_alike() -> None:
    assert tokenize("Kallas’ guarantees don’t") == tokenize("Kallas' guarantees don't")
    assert tokenize("Résumé CAFÉ") == tokenize("resume cafe")
    assert tokenize("the and of") == []


def test_stats_counts() -> None:
    rng = np.random.default_rng(5)
    index = StatementIndex(DIM)
    assert (index.stats().articles, index.stats().statements) == (0, 0)
    index.replace("a", random_data(rng, 4))
    index.replace("b", random_data(rng, 2))
    assert (index.stats().articles, index.stats().statements) == (2, 6)
    index.replace("a", random_data(rng, 1))
    assert (index.stats().articles, index.stats().statements) == (2, 3)
    index.replace("empty", IndexData([], np.zeros((0, DIM), dtype=np.float32)))
    assert (index.stats().articles, index.stats().statements) == (3, 3)
    index.remove("b")
    assert (index.stats().articles, index.stats().statements) == (2, 1)
    assert index.stats().version == 0


def test_wrong_dimension_is_refused() -> None:
    index = StatementIndex(DIM)
    with pytest.raises(ValueError, match="dimension"):
        index.replace("a", IndexData(["text"], np.ones((1, DIM + 1), dtype=np.float32)))


# -- SyncedIndex over a store (both backends) -------------------------------------------------

ARTICLE_TEXTS = {
    "nato": "NATO provides the best security guarantee for Ukraine. Kallas said so in Washington.",
    "food": "Add the flour slowly. Bake the bread for forty minutes.\nServe it warm.",
    "rain": "Heavy rain is expected in Lisbon. The storm will pass by Sunday.",
}


def put(store: Store, article_id: str, text: str, seed: int) -> None:
    statements = segment(text)
    rng = np.random.default_rng(seed)
    article = Article(
        id=article_id,
        title=article_id,
        source="test",
        content_hash=f"{article_id}-{seed}",
        statement_count=len(statements),
        created_at="2025-01-01T00:00:00Z",
        updated_at="2025-01-01T00:00:00Z",
        text=text,
    )
    store.put_article(article, statements, unit(rng.normal(size=(len(statements), DIM))))


@pytest.fixture
def other_store(store_url: tuple[str, str]) -> Iterator[Store]:
    """A second handle on the same store, as another worker process would have."""
    url, prefix = store_url
    opened = open_store(url, redis_prefix=prefix)
    yield opened
    opened.close()


def snapshot(index: StatementIndex) -> dict[str, Any]:
    """Everything observable about an index's contents."""
    probe = unit(np.random.default_rng(99).normal(size=(4, DIM)))
    stats = index.stats()
    return {
        "articles": stats.articles,
        "statements": stats.statements,
        "dense": [[(key, round(score, 5)) for key, score in index.dense(q, 1000)] for q in probe],
        "lexical": {
            query: sorted(
                (key, round(score, 4)) for key, score in index.lexical_search(query, 1000)
            )
            for query in ("security guarantee", "bread flour", "storm rain", "kallas")
        },
    }


def test_two_workers_see_each_others_writes(store: Store, other_store: Store) -> None:
    worker_a, worker_b = SyncedIndex(store, DIM), SyncedIndex(other_store, DIM)
    worker_a.rebuild()
    worker_b.rebuild()
    assert worker_a.stats().statements == worker_b.stats().statements == 0

    put(store, "nato", ARTICLE_TEXTS["nato"], seed=1)
    put(store, "food", ARTICLE_TEXTS["food"], seed=2)
    assert {key[0] for key, _ in worker_b.dense(unit(np.ones(DIM)), 100)} == set()
    version = worker_b.sync()
    assert version == store.version() == 2
    assert worker_b.stats().articles == 2
    assert worker_b.stats().statements == 5
    assert [key for key, _ in worker_b.lexical_search("bread", 5)] == [("food", 1)]

    other_store.delete_article("food")
    put(other_store, "nato", ARTICLE_TEXTS["rain"], seed=3)  # replaced through worker b
    assert worker_a.sync() == store.version() == 4
    assert worker_a.stats().articles == 1
    assert worker_a.lexical_search("bread", 5) == []
    assert [key for key, _ in worker_a.lexical_search("storm", 5)] == [("nato", 1)]
    assert worker_a.lexical_search("guarantee", 5) == []

    worker_b.sync()
    assert snapshot(worker_a) == snapshot(worker_b)
    # Syncing again with nothing new changes nothing.
    assert worker_a.sync() == 4
    assert snapshot(worker_a) == snapshot(worker_b)


def test_rebuild_equals_synced(store: Store) -> None:
    synced = SyncedIndex(store, DIM)
    synced.rebuild()
    for seed, (article_id, text) in enumerate(ARTICLE_TEXTS.items()):
        put(store, article_id, text, seed)
        synced.sync()
    put(store, "food", "Only one statement now.", seed=10)
    put(store, "blank", "--- ... ***", seed=11)  # an article without statements
    store.delete_article("rain")
    synced.sync()

    rebuilt = SyncedIndex(store, DIM)
    rebuilt.rebuild()
    assert rebuilt.version == synced.version == store.version()
    assert snapshot(rebuilt) == snapshot(synced)
    # An index never built (store down at start) loads everything at its first sync.
    lazy = SyncedIndex(store, DIM)
    assert lazy.sync() == store.version()
    assert snapshot(lazy) == snapshot(synced)
    assert synced.stats().articles == 3
    assert synced.stats().statements == 3


class WritesDuringLoad:
    """A store handle on which another worker writes right after this one has loaded its data.

    It reproduces deterministically the race an index must survive: the data it loaded is
    already stale when the load returns, so only the version it read *before* loading makes
    the next sync replay the write.
    """

    def __init__(self, store: Store, writer: Store) -> None:
        self._store, self._writer = store, writer
        self._write: Any = None
        self.pending = False

    def arm(self, write: Any) -> None:
        """Run write(writer) once, right after the next load."""
        self._write, self.pending = write, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _race(self) -> None:
        if self.pending:
            self.pending = False
            self._write(self._writer)

    def load_index_data(self, article_ids: Any) -> dict[str, IndexData]:
        loaded = self._store.load_index_data(article_ids)
        self._race()
        return loaded

    def iter_index_data(self, batch: int = 500) -> Iterator[tuple[str, IndexData]]:
        yield from self._store.iter_index_data(batch)
        self._race()


def test_write_during_sync_is_not_lost(store: Store, other_store: Store) -> None:
    put(store, "nato", ARTICLE_TEXTS["nato"], seed=1)
    racing = WritesDuringLoad(store, other_store)
    index = SyncedIndex(racing, DIM)  # type: ignore[arg-type]
    index.rebuild()
    put(store, "food", ARTICLE_TEXTS["food"], seed=3)
    racing.arm(lambda w: put(w, "rain", ARTICLE_TEXTS["rain"], seed=2))
    assert index.sync() == 2  # loaded "food"; "rain" was written just after
    assert racing.pending is False
    assert store.version() == 3
    assert [key for key, _ in index.lexical_search("bread", 5)] == [("food", 1)]
    assert index.lexical_search("storm", 5) == []
    assert index.sync() == 3
    assert index.stats().articles == 3
    assert [key for key, _ in index.lexical_search("storm", 5)] == [("rain", 1)]
    fresh = SyncedIndex(store, DIM)
    fresh.rebuild()
    assert snapshot(index) == snapshot(fresh)


def test_write_during_rebuild_is_not_lost(store: Store, other_store: Store) -> None:
    put(store, "nato", ARTICLE_TEXTS["nato"], seed=1)
    put(store, "food", ARTICLE_TEXTS["food"], seed=2)

    def race(writer: Store) -> None:
        put(writer, "food", ARTICLE_TEXTS["rain"], seed=3)
        writer.delete_article("nato")

    racing = WritesDuringLoad(store, other_store)
    racing.arm(race)
    index = SyncedIndex(racing, DIM)  # type: ignore[arg-type]
    index.rebuild()  # loads the old "food" and "nato"; the rebuild's closing sync replays both
    assert racing.pending is False
    assert index.version == store.version() == 4
    assert index.stats().articles == 1
    assert index.lexical_search("guarantee", 5) == []
    assert index.lexical_search("bread", 5) == []
    assert [key for key, _ in index.lexical_search("storm", 5)] == [("food", 1)]
    fresh = SyncedIndex(store, DIM)
    fresh.rebuild()
    assert snapshot(index) == snapshot(fresh)


# -- ingest and check with the real model -----------------------------------------------------

CORPUS = {
    "kallas": {
        "title": "Kallas slams Trump",
        "text": (
            "Kallas slams Trump over Ukraine talks\n"
            "NATO provides the best security guarantee for Ukraine, EU foreign policy chief "
            "Kaja Kallas said in Washington. She compared the talks with Russia to negotiating "
            "with a terrorist.\nThe minerals deal is expected to be signed on Friday."
        ),
        "source": "Euro Wire",
    },
    "bread": {
        "title": "Sourdough at home",
        "text": (
            "Baking sourdough bread at home takes patience. Feed the starter the night before. "
            "Bake the loaf at 230 degrees for forty minutes until the crust is dark brown."
        ),
        "source": "Kitchen Weekly",
    },
    "storm": {
        "title": "Storm hits Lisbon",
        "text": (
            "A violent storm hit Lisbon on Tuesday, flooding streets near the river. "
            "Schools stayed closed and trains were cancelled. Forecasters expect the rain to "
            "stop by Sunday."
        ),
        "source": "Iberia Today",
    },
}


def fields(name: str, **extra: Any) -> dict[str, Any]:
    return {**CORPUS[name], "url": f"https://example.org/{name}", "language": "en", **extra}


def test_ingest_is_idempotent(store: Store, embedder: Embedder) -> None:
    first = ingest_article(store, embedder, fields("kallas"))
    assert first.status == "created"
    assert first.created is True
    assert first.article.id == "a" + content_hash(fields("kallas"))[:15]
    stored = store.get_article(first.article.id)
    assert stored == first.article
    assert stored.statement_count == len(store.get_statements(first.article.id)) == 4
    version = store.version()

    again = ingest_article(store, embedder, fields("kallas"))
    assert again.status == "unchanged"
    assert again.article.id == first.article.id
    assert store.version() == version, "an unchanged article is not written again"
    assert store.count_articles() == 1

    data = store.load_index_data([first.article.id])[first.article.id]
    assert data.vectors.shape == (4, embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(data.vectors, axis=1), 1.0, rtol=1e-5)


def test_ingest_with_id_replaces(store: Store, embedder: Embedder) -> None:
    created = ingest_article(store, embedder, fields("bread", id="recipe-1"))
    assert (created.status, created.article.id) == ("created", "recipe-1")
    unchanged = ingest_article(store, embedder, fields("bread", id="recipe-1"))
    assert unchanged.status == "unchanged"

    replaced = ingest_article(store, embedder, fields("storm", id="recipe-1"))
    assert replaced.status == "replaced"
    assert replaced.created is False
    assert replaced.article.created_at == created.article.created_at
    stored = store.get_article("recipe-1")
    assert stored is not None
    assert stored.text == CORPUS["storm"]["text"]
    assert stored.content_hash == content_hash(fields("storm", id="recipe-1"))
    assert [s.text for s in store.get_statements("recipe-1")] == [
        s.text for s in segment(CORPUS["storm"]["text"])
    ]
    assert store.count_articles() == 1
    # Content without an id that an existing article already holds is that article.
    found = ingest_article(store, embedder, fields("storm"))
    assert (found.status, found.article.id) == ("unchanged", "recipe-1")


@pytest.mark.parametrize("with_id", [False, True])
def test_too_many_statements_stores_nothing(
    store: Store, embedder: Embedder, with_id: bool
) -> None:
    article = fields("kallas", id="big") if with_id else fields("kallas")
    with pytest.raises(TooManyStatements):
        ingest_article(store, embedder, article, max_statements=3)
    assert store.version() == 0
    assert store.count_articles() == 0
    assert store.get_article("big") is None
    assert store.find_by_hash(content_hash(article)) is None
    # Within the limit, the same article goes in.
    assert ingest_article(store, embedder, article, max_statements=4).status == "created"


@pytest.fixture
def corpus_index(store: Store, embedder: Embedder) -> SyncedIndex:
    for name in CORPUS:
        ingest_article(store, embedder, fields(name, id=name))
    index = SyncedIndex(store, embedder.dimension)
    index.rebuild()
    return index


@pytest.mark.parametrize(
    ("claim", "article_id", "statement"),
    [
        pytest.param(
            "NATO is the best security guarantee for Ukraine",
            "kallas",
            "NATO provides the best security guarantee for Ukraine, EU foreign policy chief "
            "Kaja Kallas said in Washington.",
            id="nato",
        ),
        pytest.param(
            "Bread is baked at 230 degrees",
            "bread",
            "Bake the loaf at 230 degrees for forty minutes until the crust is dark brown.",
            id="bread",
        ),
        pytest.param(
            "Trains were cancelled and schools closed in Lisbon because of a storm",
            "storm",
            "Schools stayed closed and trains were cancelled.",
            id="storm",
        ),
        pytest.param(
            "The minerals agreement will be signed Friday",
            "kallas",
            "The minerals deal is expected to be signed on Friday.",
            id="minerals",
        ),
    ],
)
def test_check_claim_finds_the_right_statement(
    store: Store,
    embedder: Embedder,
    corpus_index: SyncedIndex,
    claim: str,
    article_id: str,
    statement: str,
) -> None:
    result = check_claim(claim, Options(top_k=5, min_score=-1.0), store, embedder, corpus_index)
    assert result.claim == claim
    assert result.model == embedder.name
    assert result.index.articles == 3
    assert 1 <= len(result.evidence) <= 5

    best = result.evidence[0]
    assert best.hit.article.id == article_id
    assert best.hit.statement.text == statement
    assert best.statement_id == f"{article_id}:{best.hit.statement.position}"
    assert best.hit.article.title == CORPUS[article_id]["title"]
    text = CORPUS[article_id]["text"]
    s = best.hit.statement
    assert text[s.start : s.end] == statement
    assert best.hit.context == text[s.context_start : s.context_end]

    # Ranked by the evidence model; the paraphrased statement is above the decision.
    ranking = [e.score for e in result.evidence]
    assert ranking == sorted(ranking, reverse=True)
    assert all(e.score == e.scores.rank for e in result.evidence)
    assert all(e.probability == e.scores.probability for e in result.evidence)
    assert best.is_evidence and best.probability >= result.min_probability
    assert best.scores.dense > 0.5
    assert best.scores.lexical > 0
    for e in result.evidence:
        assert -1.0 <= e.scores.dense <= 1.0
        assert e.scores.lexical >= 0
    # The winner leads every other statement by a clear margin.
    assert best.score - result.evidence[1].score > 0.05
    assert set(result.timings_ms) == {"sync", "embed", "search", "rank", "resolve"}

    # With every statement returned, each fused score is the documented blend.
    everything = check_claim(
        claim, Options(top_k=50, min_score=-1.0), store, embedder, corpus_index
    ).evidence
    assert len(everything) == result.index.statements == 10
    top_lexical = max(e.scores.lexical for e in everything)
    for e in everything:
        semantic = max(e.scores.dense, CONTEXT_WEIGHT * e.scores.context)
        blend = (1 - LEXICAL_WEIGHT) * semantic + LEXICAL_WEIGHT * (e.scores.lexical / top_lexical)
        assert e.scores.fused == pytest.approx(blend, abs=1e-5)
    assert everything[:5] == result.evidence


def test_check_claim_sees_new_articles_and_deletions(
    store: Store, embedder: Embedder, corpus_index: SyncedIndex
) -> None:
    claim = "A storm flooded the streets of Lisbon"
    assert check_claim(
        claim, Options(top_k=3, min_score=-1.0), store, embedder, corpus_index
    ).evidence[0].hit.article.id == ("storm")
    store.delete_article("storm")  # through the store, as another worker would
    result = check_claim(claim, Options(top_k=3, min_score=-1.0), store, embedder, corpus_index)
    assert all(e.hit.article.id != "storm" for e in result.evidence)
    assert result.index.articles == 2


def test_check_claim_on_empty_index(store: Store, embedder: Embedder) -> None:
    index = SyncedIndex(store, embedder.dimension)
    index.rebuild()
    result = check_claim(
        "NATO is the best security guarantee",
        Options(top_k=5, min_score=-1.0),
        store,
        embedder,
        index,
    )
    assert result.evidence == []
    assert result.index.statements == 0
    assert result.reason == "index_empty"


def _snapshot(store: Store) -> object:
    """A copy of the store's whole data, to put back later (a backup, or an AOF that lost its
    last second)."""
    if isinstance(store, SQLiteStore):
        copy = sqlite3.connect(":memory:")
        store._conn().backup(copy)
        return copy
    assert isinstance(store, RedisStore)
    keys = list(store.client.scan_iter(match=f"{store.prefix}:*"))
    return {key: store.client.dump(key) for key in keys}


def _restore(store: Store, snapshot: object) -> None:
    if isinstance(store, SQLiteStore):
        assert isinstance(snapshot, sqlite3.Connection)
        snapshot.backup(store._conn())
        return
    assert isinstance(store, RedisStore) and isinstance(snapshot, dict)
    current = list(store.client.scan_iter(match=f"{store.prefix}:*"))
    if current:
        store.client.delete(*current)
    for key, value in snapshot.items():
        store.client.restore(key, 0, value)


def test_index_reloads_when_the_store_goes_back_in_time(store: Store) -> None:
    """Writes lost by a restore must leave no ghosts, and new writes that reuse their sequence
    numbers must not be skipped."""

    def put(article_id: str, text: str) -> None:
        statements = segment(text)
        vectors = np.eye(8, dtype=np.float32)[: len(statements)]
        store.put_article(
            Article(
                id=article_id,
                title=article_id,
                source="S",
                content_hash=article_id,
                statement_count=len(statements),
                created_at="t",
                updated_at="t",
                text=text,
            ),
            statements,
            vectors,
        )

    index = SyncedIndex(store, 8)
    put("kept", "Penguins live in Antarctica.")
    index.rebuild()
    backup = _snapshot(store)
    put("lost", "Glaciers retreat in summer.")
    index.sync()
    assert index.lexical_search("glaciers", 5)[0][0] == ("lost", 0)

    _restore(store, backup)
    put("new", "Volcanoes erupt lava.")  # takes the sequence number "lost" had
    index.sync()
    assert index.lexical_search("glaciers", 5) == []
    assert index.lexical_search("volcanoes", 5)[0][0] == ("new", 0)
    assert index.stats().articles == 2


def test_fused_ranking_does_not_depend_on_top_k() -> None:
    """Every candidate is fused with its exact BM25 score, so a longer list only extends a
    shorter one."""
    from service.core.search import rank

    rng = np.random.default_rng(7)
    words = ["alliance", "summit", "treaty", "budget", "defence", "border", "trade", "talks"]
    index = StatementIndex(8)
    for i in range(300):
        picked = rng.choice(words, size=3, replace=False)
        vectors = rng.normal(size=(1, 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.replace(f"a{i:03d}", IndexData(texts=[f"nato {' '.join(picked)}"], vectors=vectors))
    query = rng.normal(size=8).astype(np.float32)
    query /= np.linalg.norm(query)
    claim = "nato summit treaty"
    short = rank(index, claim, query, 5)
    long = rank(index, claim, query, 50)
    assert [key for key, _ in short] == [key for key, _ in long[:5]]
    assert all(scores.lexical > 0 for _, scores in long)  # every statement has "nato"


@pytest.mark.parametrize(
    ("dense", "fused", "min_score", "kept"),
    [
        (0.45, 0.27, 0.3, True),  # like the claim in meaning, no shared words
        (0.27, 0.49, 0.3, True),  # found by its words, cosine over half the threshold
        (0.05, 0.43, 0.3, False),  # the top word match but unlike the claim
        (0.95, 0.77, 0.9, True),  # a best cosine above the threshold always qualifies
        (0.2, 0.25, 0.3, False),
    ],
)
def test_which_passages_qualify_as_evidence(
    dense: float, fused: float, min_score: float, kept: bool
) -> None:
    from service.core.scoring import Scores
    from service.core.selection import qualifies

    assert qualifies(Scores(dense=dense, lexical=1.0, fused=fused), min_score) is kept


def test_filter_mask_tolerates_articles_synced_in_after_it() -> None:
    from service.core.index import Filters

    index = StatementIndex(8)
    vector = np.eye(8, dtype=np.float32)[:1]
    index.replace("a", IndexData(texts=["glacier melt"], vectors=vector, source="X"))
    allowed = index.articles_matching(Filters(sources=("X",)))
    index.replace("b", IndexData(texts=["glacier melt"], vectors=vector, source="X"))
    found = index.candidates(vector[0], "glacier", 10, allowed)
    assert [key for key, *_ in found] == [("a", 0)]


def test_a_filter_does_not_change_bm25_scores() -> None:
    from service.core.index import Filters

    index = StatementIndex(8)
    rng = np.random.default_rng(3)
    for i in range(20):
        vector = rng.normal(size=(1, 8)).astype(np.float32)
        text = "rare glacier term" if i == 0 else f"common glacier words {i}"
        index.replace(f"a{i}", IndexData(texts=[text], vectors=vector, source=f"S{i % 2}"))
    query = np.ones(8, dtype=np.float32) / np.sqrt(8)
    everything = {k: bm25 for k, _, bm25, _ in index.candidates(query, "rare glacier", 50)}
    allowed = index.articles_matching(Filters(sources=("S0",)))
    filtered = {k: bm25 for k, _, bm25, _ in index.candidates(query, "rare glacier", 50, allowed)}
    assert filtered and all(k[0] in {f"a{i}" for i in range(0, 20, 2)} for k in filtered)
    assert all(filtered[k] == pytest.approx(everything[k]) for k in filtered)


def test_context_score_reads_a_statement_after_the_one_before_it() -> None:
    """context = cos(query, normalise(v_prev + v)) within an article; a first statement (or
    one whose predecessor belongs to another article) keeps its own cosine."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(5, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = StatementIndex(8)
    index.replace("a", IndexData(texts=["one", "two", "three"], vectors=vectors[:3]))
    index.replace("b", IndexData(texts=["four", "five"], vectors=vectors[3:]))
    query = rng.normal(size=8).astype(np.float32)
    query /= np.linalg.norm(query)
    found = {key: (cosine, context) for key, cosine, _, context in index.candidates(query, "x", 10)}
    rows = {("a", 0): 0, ("a", 1): 1, ("a", 2): 2, ("b", 0): 3, ("b", 1): 4}
    for key, row in rows.items():
        cosine, context = found[key]
        assert cosine == pytest.approx(float(vectors[row] @ query), abs=1e-6)
        if key[1] == 0:
            expected = cosine
        else:
            joint = vectors[row - 1] + vectors[row]
            expected = float(joint @ query / np.linalg.norm(joint))
        assert context == pytest.approx(expected, abs=1e-5), key
