"""Index snapshots (service.core.snapshot): a start maps the saved rows and applies the change
feed after them, answering exactly as a rebuild from the store would; a snapshot that is
missing, damaged, of another model or store, or beyond the store's history is ignored."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from service.core.embed import Embedder
from service.core.index import Filters, StatementIndex
from service.core.snapshot import SnapshotFiles
from service.core.synced import SyncedIndex
from service.store import Store
from service.types import IndexData
from tests.test_ann import DIM, articles, clustered, put_all

CLAIMS = ["storm flood in the harbour", "council budget court", "Report 7 item 3", "tariff"]


def files(folder: Path, model: str = "m", dimension: int = DIM, store: str = "s") -> SnapshotFiles:
    return SnapshotFiles(folder, store, model, dimension)


def index_of(store: Store, folder: Path, **kwargs: object) -> SyncedIndex:
    snapshots = files(folder, **kwargs)  # type: ignore[arg-type]
    index = SyncedIndex(store, DIM, None, ann_min_statements=100, snapshots=snapshots)
    index.rebuild()
    return index


def rebuilt(store: Store) -> SyncedIndex:
    index = SyncedIndex(store, DIM, None, snapshots=None)
    index.rebuild()
    return index


def assert_same(got: StatementIndex, want: StatementIndex) -> None:
    """Every answer the index gives, compared: candidates with all their scores, filters.

    For an index holding the same rows in the same order (one that followed the same writes
    without a restart): everything, exactly.
    """
    assert got.stats() == want.stats()
    queries = clustered(np.random.default_rng(9), len(CLAIMS))
    for claim, query in zip(CLAIMS, queries, strict=True):
        for filters in (Filters(), Filters(sources=["outlet 3", "outlet 5"])):
            a, b = (
                index.candidate_table(query, claim, 20, index.articles_matching(filters))
                for index in (got, want)
            )
            assert a.keys == b.keys
            for field in ("cosine", "bm25", "context", "coverage", "title_coverage"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field), field)
            assert a.known == b.known
        assert got.lexical_search(claim, 10) == want.lexical_search(claim, 10)
        assert got.dense(query, 10) == want.dense(query, 10)
    keys = [("art-1", 0), ("art-2", 5), ("missing", 0)]
    np.testing.assert_array_equal(got.vectors_of(keys), want.vectors_of(keys))


def assert_as_rebuilt(got: StatementIndex, store: Store) -> None:
    """Against a rebuild from the store, whose rows come in another order: the same
    statements with the same scores (equal scores may trade places), and the same vectors."""
    want = rebuilt(store)
    assert got.stats() == want.stats()
    queries = clustered(np.random.default_rng(9), len(CLAIMS))
    for claim, query in zip(CLAIMS, queries, strict=True):
        a, b = got.lexical_search(claim, 10), want.lexical_search(claim, 10)
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-6)
        a, b = got.dense(query, 10), want.dense(query, 10)
        assert [k for k, _ in a] == [k for k, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-6)
    for filters in (Filters(), Filters(sources=["outlet 3"]), Filters(after_day="2025-01-10")):
        mask_a, mask_b = got.articles_matching(filters), want.articles_matching(filters)
        if mask_a is None or mask_b is None:
            assert mask_a is mask_b
            continue
        ids_a = {got._article_ids[o] for o in np.flatnonzero(mask_a)} & got._rows.keys()
        ids_b = {want._article_ids[o] for o in np.flatnonzero(mask_b)} & want._rows.keys()
        assert ids_a == ids_b
    keys = [(a, p) for a in sorted(want._rows)[:20] for p in (0, 3)]
    np.testing.assert_array_equal(got.vectors_of(keys), want.vectors_of(keys))


def fill(store: Store, count: int = 40, seed: int = 1) -> dict[str, IndexData]:
    data = articles(np.random.default_rng(seed), count)
    put_all(store, data)
    return data


def test_a_snapshot_round_trip_answers_as_a_rebuild(store: Store, tmp_path: Path) -> None:
    fill(store)
    first = index_of(store, tmp_path)
    assert first.restored_from is None  # nothing saved yet: rebuilt from the store
    generation = first.write_snapshot()
    assert generation is not None
    second = index_of(store, tmp_path)
    assert second.restored_from == generation
    assert isinstance(second._vectors.base, np.memmap)  # mapped, not copied
    assert_as_rebuilt(second, store)
    assert_same(second, first)


def test_a_stale_snapshot_plus_the_feed_answers_as_a_rebuild(store: Store, tmp_path: Path) -> None:
    data = fill(store)
    index_of(store, tmp_path).write_snapshot()
    live = index_of(store, tmp_path)  # started from it, and never restarted
    # After the snapshot: new articles, a rewritten one, deleted ones.
    put_all(store, {f"new-{k}": v for k, v in articles(np.random.default_rng(5), 6).items()})
    rewritten = data["art-3"]
    put_all(store, {"art-3": IndexData(rewritten.texts[:4], rewritten.vectors[:4], "outlet 5")})
    for gone in ("art-1", "art-10"):
        assert store.delete_article(gone)
    restored = index_of(store, tmp_path)
    assert restored.restored_from is not None
    assert_as_rebuilt(restored, store)
    live.sync(build=False)
    assert_same(restored, live)
    # And it keeps following: writes after the start, then a second snapshot of base + tail.
    put_all(store, {f"late-{k}": v for k, v in articles(np.random.default_rng(6), 3).items()})
    restored.sync(build=False)
    assert_as_rebuilt(restored, store)
    assert restored.write_snapshot()
    again = index_of(store, tmp_path)
    assert again.restored_from is not None
    assert_as_rebuilt(again, store)


@pytest.mark.slow  # 5,000 statements segmented and stored
def test_compaction_after_a_restore_leaves_the_mapped_rows(store: Store, tmp_path: Path) -> None:
    fill(store, count=500)  # compaction waits for 4,096 dead rows
    index_of(store, tmp_path).write_snapshot()
    restored = index_of(store, tmp_path)
    for a in range(0, 450):
        store.delete_article(f"art-{a}")
    restored.sync(build=False)
    assert restored._vectors.start == 0  # compacted into memory
    assert_as_rebuilt(restored, store)


def test_a_restored_index_reads_its_mapped_rows_by_pread_even_once_removed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store)
    first = index_of(store, tmp_path)
    first.write_snapshot()
    restored = index_of(store, tmp_path)
    put_all(store, {"late": articles(np.random.default_rng(8), 1)["art-0"]})
    restored.sync(build=False)  # a tail row beside the mapped ones
    vectors = restored._vectors
    assert vectors._file is not None and vectors.start == 400 and len(vectors.base) == 400
    want = np.concatenate([np.asarray(vectors.base), vectors.tail[:10]])
    picks = np.random.default_rng(2).permutation(410)[:60]
    np.testing.assert_array_equal(vectors.take(picks), want[picks])  # pread, and the tail
    # A newer generation replaces this one and removes its files: the open file still reads.
    first.write_snapshot()
    assert not Path(str(vectors.base.filename)).exists()
    np.testing.assert_array_equal(vectors.take(picks), want[picks])
    monkeypatch.setattr("service.core.vectors.PREAD_MAX_ROWS", 10)  # many rows: the mapping
    np.testing.assert_array_equal(vectors.take(picks), want[picks])
    assert_as_rebuilt(restored, store)


def _damage(folder: Path, name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        generation = path / (path / "CURRENT").read_text().strip()
        target = generation / name
        if name == "vectors.npy":
            with open(target, "r+b") as handle:
                handle.truncate(target.stat().st_size - 4 * DIM)
        elif name == "CURRENT":
            (path / "CURRENT").unlink()
        else:
            raw = bytearray(target.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            target.write_bytes(bytes(raw))

    return damage


@pytest.mark.parametrize(
    "damage",
    [
        "CURRENT",
        "vectors.npy",
        "articles.json",
        "terms.txt",
        "row_article.npy",
        "post_rows.npy",
    ],
)
def test_a_damaged_or_missing_snapshot_is_rebuilt_from_the_store(
    store: Store, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    fill(store)
    index_of(store, tmp_path).write_snapshot()
    _damage(tmp_path, damage)(tmp_path)
    with caplog.at_level(logging.INFO, logger="service.core.snapshot"):
        index = index_of(store, tmp_path)
    assert index.restored_from is None
    assert "rebuilding from the store" in caplog.text
    assert_as_rebuilt(index, store)


@pytest.mark.parametrize(
    "other", [{"model": "another"}, {"dimension": DIM * 2}, {"store": "another store"}]
)
def test_a_snapshot_of_another_model_dimension_or_store_is_ignored(
    store: Store, tmp_path: Path, other: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    fill(store)
    index_of(store, tmp_path).write_snapshot()
    with caplog.at_level(logging.INFO, logger="service.core.snapshot"):
        snap = files(tmp_path, **other).load()  # type: ignore[arg-type]
    assert snap is None and "ignored" in caplog.text
    assert index_of(store, tmp_path).restored_from is not None  # its own still fits


def test_a_snapshot_beyond_the_store_history_is_ignored(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store was wiped and refilled (or restored from an older copy): the snapshot's
    version is not in this history, so applying the feed after it would be wrong."""
    data = fill(store)
    index_of(store, tmp_path).write_snapshot()
    for article_id in data:
        store.delete_article(article_id)
    snap = files(tmp_path).load()
    assert snap is not None
    meta_path = tmp_path / snap.generation / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = store.version() + 100  # as if saved before a wipe of a longer history
    meta_path.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="service.core.synced"):
        index = index_of(store, tmp_path)
    assert index.restored_from is None and "history does not hold" in caplog.text
    assert_as_rebuilt(index, store)


def test_concurrent_writers_while_snapshotting(store: Store, tmp_path: Path) -> None:
    fill(store, count=30)
    index = index_of(store, tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = 0
        try:
            while not stop.is_set() and n < 40:
                batch = articles(rng, 2)
                put_all(store, {f"w{seed}-{n}-{k}": v for k, v in batch.items()})
                if n % 3 == 0:
                    store.delete_article(f"art-{(seed * 7 + n) % 30}")
                n += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (11, 12)]
    for t in threads:
        t.start()
    generations = []
    for _ in range(3):
        index.sync(build=False)
        generations.append(index.write_snapshot())
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert all(generations)
    restored = index_of(store, tmp_path)
    assert restored.restored_from == generations[-1]
    assert_as_rebuilt(restored, store)


def test_a_background_snapshot_is_written_once_the_index_is_large_and_behind(
    store: Store, tmp_path: Path
) -> None:
    fill(store, count=20)  # 200 statements, over the index's threshold of 100
    index = index_of(store, tmp_path)
    assert index.needs_snapshot()
    index.sync()
    assert index.snapshot_writer is not None
    index.snapshot_writer.join(timeout=60)
    assert not index.needs_snapshot()
    restored = index_of(store, tmp_path)
    assert restored.restored_from is not None
    # A fifth of the articles written since: behind again.
    put_all(store, {f"more-{k}": v for k, v in articles(np.random.default_rng(3), 8).items()})
    restored.sync(build=False)
    assert restored.needs_snapshot()


def test_only_one_process_writes_at_a_time(store: Store, tmp_path: Path) -> None:
    fill(store, count=5)
    index = index_of(store, tmp_path)
    with index.snapshots.write_lock() as mine:  # type: ignore[union-attr]
        assert mine
        assert index.write_snapshot() is None


def test_the_app_starts_from_a_snapshot_and_answers_alike(
    make_app: Callable[..., object], tmp_path: Path, embedder: Embedder
) -> None:
    """The real app and model on each backend: a second start maps the snapshot the first
    wrote, follows a write made in between, and answers every check as the first does."""
    from bench.corpus import articles as news
    from bench.corpus import claims

    first = make_app(ann_dir=str(tmp_path))
    writer = first.test_client()  # type: ignore[attr-defined]
    bodies = [dict(a.fields) for a in news(60, seed=31)]
    for body in bodies[:50]:
        assert writer.post("/v1/articles", json=body).status_code == 201
    assert first.extensions["factcheck"].index.write_snapshot()  # type: ignore[attr-defined]
    for body in bodies[50:]:
        assert writer.post("/v1/articles", json=body).status_code == 201
    second = make_app(ann_dir=str(tmp_path))
    assert second.extensions["factcheck"].index.restored_from  # type: ignore[attr-defined]
    reader = second.test_client()  # type: ignore[attr-defined]
    for claim in claims(12, seed=33):
        body = {"claim": claim, "top_k": 5, "min_score": 0, "min_probability": 0}
        got = reader.post("/v1/check", json=body).get_json()
        want = writer.post("/v1/check", json=body).get_json()
        got.pop("took_ms"), want.pop("took_ms")
        assert got == want
