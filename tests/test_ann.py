"""The approximate side of dense search (service.core.ann): an approximate index answers like
the exact scan, follows writes made after its build, survives restarts on disk, and one process at a
time rebuilds it in the background."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from service.core.ann import AnnFiles, AnnIndex, default_directory, statement_key
from service.core.embed import Embedder
from service.core.index import Filters, StatementIndex
from service.core.search import rank
from service.core.synced import SyncedIndex
from service.store import Store
from service.store.sqlite import SQLiteStore
from service.types import Article, IndexData
from tests.test_index import unit

DIM = 32
WORDS = [
    "storm",
    "flood",
    "harbour",
    "council",
    "budget",
    "court",
    "vaccine",
    "rocket",
    "summit",
    "tariff",
]


def clustered(rng: np.random.Generator, count: int, dim: int = DIM) -> np.ndarray:
    """Unit vectors around 40 centres, the shape sentence embeddings have."""
    centres = unit(rng.normal(size=(40, dim)))
    return unit(centres[rng.integers(0, 40, count)] + 0.35 * unit(rng.normal(size=(count, dim))))


def articles(
    rng: np.random.Generator, count: int, per: int = 10, dim: int = DIM
) -> dict[str, IndexData]:
    vectors = clustered(rng, count * per, dim)
    out = {}
    for a in range(count):
        texts = [
            f"Report {a} item {i} covers the {' and '.join(rng.choice(WORDS, 3))}."
            for i in range(per)
        ]
        out[f"art-{a}"] = IndexData(
            texts=texts,
            vectors=vectors[a * per : (a + 1) * per],
            source=f"outlet {a % 7}",
            published_at=f"2025-01-{1 + a % 28:02d}",
        )
    return out


def filled(data: dict[str, IndexData]) -> StatementIndex:
    index = StatementIndex(DIM)
    for article_id, item in data.items():
        index.replace(article_id, item)
    return index


def ann_of(index: StatementIndex) -> AnnIndex:
    vectors, keys = index.ann_snapshot()
    return AnnIndex.build(vectors, keys, threads=1)


def ranked(
    index: StatementIndex, query: np.ndarray, allowed: np.ndarray | None = None, claim: str = ""
) -> list:
    return [key for key, _ in rank(index, claim, query, 10, allowed=allowed)]


@pytest.fixture(scope="module")
def corpus() -> dict[str, IndexData]:
    return articles(np.random.default_rng(7), 400)  # 4,000 statements


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return clustered(np.random.default_rng(8), 60)


def test_statement_keys_are_stable_and_tell_texts_apart() -> None:
    key = statement_key("a", 0, "The storm passed.")
    assert key == statement_key("a", 0, "The storm passed.")
    others = {
        statement_key("a", 1, "The storm passed."),
        statement_key("b", 0, "The storm passed."),
    }
    others.add(statement_key("a", 0, "The storm returned."))
    assert key not in others and len(others) == 3
    assert 0 <= key < 2**64


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
def test_ann_ranks_like_the_exact_scan(
    corpus: dict[str, IndexData], queries: np.ndarray, filtered: bool
) -> None:
    index = filled(corpus)
    allowed = None
    if filtered:  # three outlets of seven: a filter the index still answers
        allowed = index.articles_matching(Filters(sources=("outlet 1", "outlet 2", "outlet 3")))
        assert allowed is not None and 0.3 < allowed.mean() < 0.6
    # The claim's words bring BM25 candidates too: the union must match as well.
    exact = [ranked(index, q, allowed, "storm council") for q in queries]
    index.attach(ann_of(index))
    assert index.ann_staleness() == (0, 0)
    approximate = [ranked(index, q, allowed, "storm council") for q in queries]
    overlap = [len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact, strict=True)]
    assert np.mean(overlap) >= 0.98
    if filtered:
        sources = {f"art-{a}" for a in range(400) if a % 7 in (1, 2, 3)}
        assert all(key[0] in sources for keys in approximate for key in keys)


def test_a_narrow_filter_scans_its_few_rows_exactly(
    corpus: dict[str, IndexData], queries: np.ndarray
) -> None:
    index = filled(corpus)
    # An index over the right keys but unrelated vectors: any answer that went through it
    # would differ from the exact scan, so equality below proves the scan was taken.
    _, keys = index.ann_snapshot()
    misleading = AnnIndex.build(clustered(np.random.default_rng(99), len(keys)), keys, 1)
    index.attach(misleading)
    assert ranked(index, queries[0])[:3] != ranked(filled(corpus), queries[0])[:3]
    allowed = np.zeros(len(corpus), dtype=bool)
    allowed[:12] = True  # 3% of the entries: the scan is exact
    for q in queries[:10]:
        got = rank(index, "", q, 10, allowed=allowed)
        scores = [s.dense for _, s in got]
        assert {k[0] for k, _ in got} <= {f"art-{a}" for a in range(12)}
        index_exact = filled({k: corpus[k] for k in list(corpus)[:12]})
        best = [s.dense for _, s in rank(index_exact, "", q, 10)]
        assert scores == pytest.approx(best, abs=1e-6)


def test_writes_after_the_build_are_searched_and_deletions_are_never_returned(
    corpus: dict[str, IndexData],
) -> None:
    index = filled(corpus)
    index.attach(ann_of(index))
    rng = np.random.default_rng(3)
    fresh = articles(rng, 2)
    index.replace("late", fresh["art-0"])  # written after the build: not in the index
    index.remove("art-5")
    rewritten = fresh["art-1"]
    index.replace("art-6", rewritten)  # same id, new texts and vectors
    assert index.ann_staleness() == (20, 20)
    for i in range(10):
        top = ranked(index, fresh["art-0"].vectors[i])
        assert top[0] == ("late", i)
        assert all(key[0] != "art-5" for key in top)
        assert ranked(index, rewritten.vectors[i])[0] == ("art-6", i)
    for i in range(10):  # the old vectors of art-6 and art-5 are gone from every answer
        assert ("art-6", i) not in ranked(index, corpus["art-6"].vectors[i])[:1]
        assert ("art-5", i) not in ranked(index, corpus["art-5"].vectors[i])


def test_entries_find_their_rows_whether_built_from_these_rows_or_not(
    corpus: dict[str, IndexData],
) -> None:
    index = filled(corpus)
    index.remove("art-2")  # a dead row before the live ones: entry i is not row i
    same = ann_of(index)  # built from these very rows: matched without a search
    order = np.random.default_rng(4).permutation(same.size)
    shuffled = AnnIndex(same.index, same.keys[order])  # another order: matched by key
    for ann in (shuffled, same):
        index.attach(ann)
        rows = index._entry_rows
        assert (rows >= 0).all() and np.array_equal(index._keys[rows], ann.keys)
        assert index.ann_staleness() == (0, 0)
    through_ann = [ranked(index, corpus["art-7"].vectors[i]) for i in range(10)]
    index.attach(None)
    assert through_ann == [ranked(index, corpus["art-7"].vectors[i]) for i in range(10)]


def test_compaction_keeps_entries_on_their_rows() -> None:
    data = articles(np.random.default_rng(5), 600)
    index = filled(data)
    index.attach(ann_of(index))
    for a in range(0, 500):  # 5,000 dead rows against 1,000 live: the arrays are compacted
        index.remove(f"art-{a}")
    assert index.ann_staleness() == (0, 5000)
    for a in range(500, 600, 7):
        item = data[f"art-{a}"]
        assert ranked(index, item.vectors[3])[0] == (f"art-{a}", 3)


def test_saved_indexes_load_mapped_and_refuse_another_model(
    tmp_path: Path, corpus: dict[str, IndexData], queries: np.ndarray
) -> None:
    index = filled(corpus)
    files = AnnFiles(tmp_path / "ann", "model-a", DIM)
    assert files.stamp() is None and files.load() is None
    first = files.save(ann_of(index))
    loaded = files.load()
    assert loaded is not None and loaded.generation == first and loaded.size == 4000
    stamp = files.stamp()
    second = files.save(ann_of(index))
    assert files.stamp() != stamp
    assert [p.name for p in (tmp_path / "ann").glob("g-*")] == [second]
    reopened = filled(corpus)
    reopened.attach(files.load())
    index.attach(ann_of(index))
    assert [ranked(reopened, q) for q in queries[:5]] == [ranked(index, q) for q in queries[:5]]
    assert AnnFiles(tmp_path / "ann", "model-b", DIM).load() is None
    assert AnnFiles(tmp_path / "ann", "model-a", DIM + 1).load() is None
    # Damaged as a new file put in its place: truncating the mapped one in place would pull
    # the pages from under `reopened`, and its faiss index dies of SIGBUS when it touches them.
    damaged = tmp_path / "ann" / second / "ann.faiss.new"
    damaged.write_bytes(b"not an index")
    damaged.replace(tmp_path / "ann" / second / "ann.faiss")
    assert files.load() is None  # damaged: searched exactly instead


# -- a store-backed index: background builds, restarts, several processes --------------------


def put_all(store: Store, data: dict[str, IndexData]) -> None:
    from service.core.segment import segment

    for article_id, item in data.items():
        text = "\n\n".join(item.texts)
        statements = segment(text)
        assert [s.text for s in statements] == item.texts
        article = Article(
            id=article_id,
            title=article_id,
            source=item.source or "x",
            content_hash=article_id,
            statement_count=len(statements),
            created_at="2025-01-01T00:00:00Z",
            updated_at="2025-01-01T00:00:00Z",
            text=text,
        )
        store.put_article(article, statements, item.vectors)


@pytest.fixture
def sqlite_store(tmp_path: Path, corpus: dict[str, IndexData]) -> SQLiteStore:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'fc.db'}")
    put_all(store, dict(list(corpus.items())[:100]))  # 1,000 statements
    return store


def synced(store: Store, folder: Path, threshold: int = 500) -> SyncedIndex:
    index = SyncedIndex(store, DIM, AnnFiles(folder, "m", DIM), threshold)
    index.rebuild()
    return index


@pytest.mark.slow  # a store of thousands of statements
def test_a_large_enough_index_builds_its_ann_in_the_background_once(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    folder = tmp_path / "ann"
    worker_a = synced(sqlite_store, folder)
    assert worker_a.builder is None  # rebuild() never builds: it may run before a fork
    worker_a.sync()
    builder = worker_a.builder
    assert builder is not None
    builder.join(timeout=120)
    assert worker_a.ann_staleness() == (0, 0)
    assert worker_a.needs_ann() is False
    # Another worker (or a restart) maps the saved generation in, without building.
    worker_b = synced(sqlite_store, folder)
    assert worker_b.ann_staleness() == (0, 0)
    worker_b.sync()
    assert worker_b.builder is None


@pytest.mark.slow  # a store of thousands of statements
def test_small_indexes_and_disabled_anns_never_build(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    small = synced(sqlite_store, tmp_path / "small", threshold=5000)
    small.sync()
    assert small.builder is None and small.ann_staleness() is None
    off = SyncedIndex(sqlite_store, DIM, None, 10)
    off.rebuild()
    off.sync()
    assert off.builder is None and not off.needs_ann()
    assert not (tmp_path / "small").exists()


@pytest.mark.slow  # a store of thousands of statements
def test_only_one_process_builds_at_a_time(sqlite_store: SQLiteStore, tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    index = synced(sqlite_store, folder)
    files = AnnFiles(folder, "m", DIM)
    with files.build_lock() as mine:
        assert mine
        assert index.build_ann() is False  # another holder: this one steps aside
    assert index.build_ann() is True
    assert index.ann_staleness() == (0, 0)


@pytest.mark.slow  # a store of thousands of statements
def test_an_outgrown_ann_is_rebuilt_and_followed_by_other_workers(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    folder = tmp_path / "ann"
    worker_a = synced(sqlite_store, folder)
    assert worker_a.build_ann(threads=1)
    worker_b = synced(sqlite_store, folder)
    generation = AnnFiles(folder, "m", DIM).load()
    assert generation is not None
    extra = articles(np.random.default_rng(11), 30)  # 300 new statements: 23% of the index
    put_all(sqlite_store, {f"new-{k}": v for k, v in extra.items()})
    worker_a.sync()
    assert worker_a.builder is not None
    worker_a.builder.join(timeout=120)
    assert worker_a.ann_staleness() == (0, 0)
    worker_b.sync()  # sees the new generation on disk and maps it in
    assert worker_b.ann_staleness() == (0, 0)
    new = AnnFiles(folder, "m", DIM).load()
    assert new is not None and new.generation != generation.generation and new.size == 1300


@pytest.mark.slow  # a store of thousands of statements
def test_a_full_reload_maps_the_saved_index_again(
    sqlite_store: SQLiteStore, tmp_path: Path
) -> None:
    index = synced(sqlite_store, tmp_path / "ann")
    assert index.build_ann(threads=1)
    index.rebuild()  # what a sync does when the store lost history the index had seen
    assert index.ann_staleness() == (0, 0)


def test_tiny_and_empty_indexes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = clustered(rng, 10)
    tiny = AnnIndex.build(vectors, np.arange(10, dtype=np.uint64), threads=1)
    assert tiny.size == 10 and 9 in tiny.search(vectors[9], 3)
    with pytest.raises(ValueError, match="no statements"):
        AnnIndex.build(np.zeros((0, DIM), dtype=np.float32), np.zeros(0, dtype=np.uint64))


@pytest.mark.slow  # a store of thousands of statements
@pytest.mark.parametrize("value", ["OFF", "false", "hnsw"])
def test_ann_setting_is_checked(sqlite_store: SQLiteStore, value: str) -> None:
    from service.config import Config
    from service.core.synced import open_index

    config = Config.from_env({}, ann=value)
    if value == "OFF":
        assert open_index(config, sqlite_store, "m", DIM).ann_files is None
    else:
        with pytest.raises(ValueError, match="FACTCHECK_ANN"):
            open_index(config, sqlite_store, "m", DIM)


def test_default_ann_folders() -> None:
    assert default_directory("sqlite:///data/fc.db") == "data/fc.db.ann"
    redis_a = default_directory("redis://127.0.0.1:6379/0")
    assert redis_a != default_directory("redis://127.0.0.1:6379/1")
    assert "6379" not in redis_a  # a URL's password never reaches a path


@pytest.mark.slow  # a store of thousands of statements
def test_cli_builds_the_ann(tmp_path: Path, embedder: Embedder) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'fc.db'}")
    put_all(store, articles(np.random.default_rng(2), 30, dim=embedder.dimension))
    store.close()
    env = {"FACTCHECK_STORE": f"sqlite:///{tmp_path / 'fc.db'}", "PATH": "/usr/bin:/bin"}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "index"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "approximate index of 300 statements built" in done.stdout
    assert "index snapshot written" in done.stdout  # the next start maps the rows too
    assert (tmp_path / "fc.db.ann" / "snapshot" / "CURRENT").exists()
    assert AnnFiles(f"{tmp_path / 'fc.db'}.ann", embedder.name, embedder.dimension).load()
    off = subprocess.run(
        [sys.executable, "-m", "service.cli", "index"],
        env={**env, "FACTCHECK_ANN": "off"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert off.returncode == 2 and "FACTCHECK_ANN=off" in off.stderr


@pytest.mark.slow  # waits for a background index build
def test_the_service_answers_alike_through_its_approximate_index(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Through the HTTP API, on statements embedded by the real model: the app builds its
    index in the background after the first check, then answers as an exact-scan app."""
    from bench.corpus import articles as news
    from bench.corpus import claims
    from service import create_app

    url = f"sqlite:///{tmp_path / 'fc.db'}"
    exact = create_app({"store": url, "ann": "off"})
    writer = exact.test_client()
    for article in news(1000, seed=21):
        assert writer.post("/v1/articles", json=dict(article.fields)).status_code == 201
    approximate = create_app({"store": url, "ann_min_statements": 500, "ann_dir": str(tmp_path)})
    index = approximate.extensions["factcheck"].index
    reader = approximate.test_client()
    assert reader.get("/v1/check", query_string={"claim": "a first claim"}).status_code == 200
    assert index.builder is not None
    index.builder.join(timeout=120)
    assert index.ann_staleness() == (0, 0)
    same = 0
    probes = claims(20, seed=23)
    for claim in probes:
        body = {"claim": claim, "top_k": 5, "min_score": 0, "min_probability": 0}
        got = reader.post("/v1/check", json=body).get_json()["evidence"]
        want = writer.post("/v1/check", json=body).get_json()["evidence"]
        assert len(got) == len(want) == 5
        same += [e["statement_id"] for e in got] == [e["statement_id"] for e in want]
    assert same >= 0.9 * len(probes)


@pytest.mark.slow  # a store of thousands of statements
def test_a_full_load_leaves_postings_as_shared_arrays(sqlite_store: SQLiteStore) -> None:
    """Under preload the load runs in the master: postings must be arrays by then, or every
    worker converts (and privately copies) them on first use."""
    index = SyncedIndex(sqlite_store, DIM)
    index.rebuild()
    postings = list(index.lexical.postings.values())
    assert postings and all(not p._new_rows for p in postings)
    assert sum(len(p._rows) for p in postings) > 1000
