"""Index snapshots: the rows of an index (vectors, BM25 postings, article fields) saved beside
the store, so that a start maps them in and applies only the change feed after them instead
of reloading and re-tokenising every statement.

On disk a snapshot is a generation directory ``<dir>/g-<token>/`` of ``.npy`` arrays,
``terms.txt``, ``articles.json`` and ``meta.json`` (stamped with the store, the model, the
dimension and the change-feed position: version and head). It is written under a temporary
name, fsynced and renamed; ``<dir>/CURRENT`` names the live generation and is replaced the
same way, so a reader never sees half a snapshot. The vectors and postings are mapped
(``np.load(mmap_mode="r")``): every process that maps them shares one copy in the page cache.

Any doubt means no snapshot (the index is rebuilt from the store, as without one): a file
missing, of the wrong size or checksum, arrays that do not fit together, or a stamp of another
store, model or dimension. Small files are checksummed whole; the three large ones (vectors,
postings rows and frequencies) at evenly spread blocks, since reading 1.5 GB to check it
would cost the start-up the snapshot is there to save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.core import generations
from service.core.lexical import LexicalState
from service.core.rows import RowState

log = logging.getLogger(__name__)

FORMAT = 1
_ARRAYS = ("alive", "row_article", "row_position", "keys", "published", "run_first", "run_count")
_LARGE = ("vectors.npy", "post_rows.npy", "post_tfs.npy")
_SAMPLES, _BLOCK = 64, 1 << 16
_CHUNK = 65536  # rows of vectors copied at a time while writing


@dataclass
class Snapshot:
    state: RowState
    version: int  # the store's change sequence the rows reflect
    head: str | None  # the article whose change carries that version
    generation: str


class SnapshotFiles:
    """Where one store's index snapshot lives, and which store, model and dimension it is for."""

    def __init__(self, directory: str | Path, store: str, model: str, dimension: int) -> None:
        self.directory = Path(directory)
        self.stamp_fields = {"store": store, "model": model, "dimension": dimension}

    @property
    def _current(self) -> Path:
        return self.directory / generations.CURRENT

    def current_version(self) -> int | None:
        """The change-feed version of the current snapshot (None: none readable)."""
        try:
            generation = self._current.read_text().strip()
            meta = json.loads((self.directory / generation / "meta.json").read_text())
            return int(meta["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self) -> Snapshot | None:
        """The current snapshot, its large arrays mapped; None (with a log line saying why)
        when there is none or it cannot be trusted."""
        for _attempt in range(3):
            try:
                generation = self._current.read_text().strip()
            except OSError:
                log.info("no index snapshot in %s; rebuilding from the store", self.directory)
                return None
            folder = self.directory / generation
            try:
                return _read(folder, self.stamp_fields, generation)
            except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
                try:
                    moved_on = self._current.read_text().strip() != generation
                except OSError:
                    moved_on = False
                if moved_on:  # a newer one replaced (and removed) it while we read: retry
                    continue
                log.warning(
                    "index snapshot %s ignored (%s); rebuilding from the store",
                    folder,
                    exc,
                    extra={"event": "snapshot_ignored"},
                )
                return None
        log.warning("index snapshots in %s keep changing; rebuilding from the store", folder)
        return None

    def save(self, state: RowState, version: int, head: str | None) -> str:
        """Write a new generation and make it current; older ones are removed (a process still
        mapping one keeps its pages until it lets go of them)."""
        stamp = {**self.stamp_fields, "version": version, "head": head}
        return generations.publish(self.directory, lambda folder: _write(folder, state, stamp))

    def write_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Yields True in the one process that may write now, False in every other."""
        return generations.exclusive(self.directory, "write.lock")


def snapshot_directory(ann_directory: str, store_url: str, redis_prefix: str) -> str:
    """Inside the approximate index's folder (beside an SQLite file, or the per-URL cache
    folder of a Redis store, one per key prefix)."""
    if store_url.startswith("sqlite:"):
        return os.path.join(ann_directory, "snapshot")
    return os.path.join(ann_directory, f"snapshot-{store_name(store_url, redis_prefix)[:12]}")


def store_name(store_url: str, redis_prefix: str) -> str:
    """What a snapshot is stamped with: a hash of the store URL (and, for Redis, the key
    prefix), not the URL itself, which may carry a password."""
    name = store_url if store_url.startswith("sqlite:") else f"{store_url}#{redis_prefix}"
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _write(folder: Path, state: RowState, stamp: dict[str, object]) -> None:
    lexical = state.lexical if isinstance(state.lexical, LexicalState) else state.lexical()
    used = len(state.alive)
    dimension = int(stamp["dimension"])  # type: ignore[call-overload]
    vectors = np.lib.format.open_memmap(
        folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(used, dimension)
    )
    at = 0
    for part in state.vectors:
        for start in range(0, len(part), _CHUNK):
            chunk = part[start : start + _CHUNK]
            vectors[at : at + len(chunk)] = chunk
            at += len(chunk)
    assert at == used, "vector parts do not add up to the rows"
    vectors.flush()
    del vectors
    for name in _ARRAYS:
        np.save(folder / f"{name}.npy", getattr(state, name))
    np.save(folder / "lengths.npy", lexical.lengths)
    np.save(folder / "offsets.npy", lexical.offsets)
    np.save(folder / "post_rows.npy", lexical.rows)
    np.save(folder / "post_tfs.npy", lexical.tfs)
    (folder / "terms.txt").write_text("\n".join(lexical.terms), encoding="utf-8")
    articles = {
        "ids": state.article_ids,
        "sources": state.sources,
        "titles": state.titles,
        "days": state.days,
    }
    (folder / "articles.json").write_text(json.dumps(articles), encoding="utf-8")
    files = {}
    for path in sorted(folder.iterdir()):
        files[path.name] = [path.stat().st_size, _checksum(path)]
    meta = {
        **stamp,
        "format": FORMAT,
        "rows": used,
        "live": state.live,
        "terms": len(lexical.terms),
        "total_length": lexical.total_length,
        "files": files,
    }
    # generations.publish fsyncs every file and the folder before it becomes current.
    (folder / "meta.json").write_text(json.dumps(meta))


def _read(folder: Path, stamp: dict[str, object], generation: str) -> Snapshot:
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, not {FORMAT}")
    for key, wanted in stamp.items():
        if meta.get(key) != wanted:
            raise ValueError(f"made for {key} {meta.get(key)!r}, not {wanted!r}")
    for name, (size, checksum) in meta["files"].items():
        path = folder / name
        if path.stat().st_size != size:
            raise ValueError(f"{name} is {path.stat().st_size} bytes, not {size}")
        if _checksum(path) != checksum:
            raise ValueError(f"{name} fails its checksum")

    def array(name: str, mapped: bool = False) -> np.ndarray:
        return np.load(folder / f"{name}.npy", mmap_mode="r" if mapped else None)

    rows, dimension = int(meta["rows"]), int(meta["dimension"])
    vectors = array("vectors", mapped=True)
    assert vectors.shape == (rows, dimension) and vectors.dtype == np.float32, "vectors"
    arrays = {name: array(name) for name in _ARRAYS}
    for name in ("alive", "row_article", "row_position", "keys"):
        assert arrays[name].shape == (rows,), name
    articles = json.loads((folder / "articles.json").read_text(encoding="utf-8"))
    ordinals = len(articles["ids"])
    for name in ("sources", "titles", "days"):
        assert len(articles[name]) == ordinals, name
    for name in ("published", "run_first", "run_count"):
        assert arrays[name].shape == (ordinals,), name
    assert not rows or int(arrays["row_article"].max()) < ordinals, "row_article"
    assert int(arrays["alive"].sum()) == int(meta["live"]), "live rows"
    text = (folder / "terms.txt").read_text(encoding="utf-8")
    terms = text.split("\n") if text else []
    offsets = array("offsets")
    post_rows, post_tfs = array("post_rows", mapped=True), array("post_tfs", mapped=True)
    assert len(terms) == int(meta["terms"]) and offsets.shape == (len(terms) + 1,), "terms"
    assert int(offsets[-1]) == len(post_rows) == len(post_tfs), "postings"
    assert not len(post_rows) or int(post_rows.max(initial=0)) < rows, "postings rows"
    lengths = array("lengths")
    assert lengths.shape == (rows,), "lengths"
    total = float(meta["total_length"])
    lexical = LexicalState(terms, offsets, post_rows, post_tfs, lengths, total)
    state = RowState(
        vectors=[vectors],
        article_ids=articles["ids"],
        sources=articles["sources"],
        titles=articles["titles"],
        days=articles["days"],
        live=int(meta["live"]),
        lexical=lexical,
        **arrays,
    )
    return Snapshot(state, int(meta["version"]), meta.get("head"), generation)


def _checksum(path: Path) -> int:
    """crc32 of the whole file, or of evenly spread blocks of a large one (see above)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if path.name not in _LARGE or size <= _SAMPLES * _BLOCK:
            return zlib.crc32(handle.read())
        crc = 0
        for i in range(_SAMPLES):
            handle.seek((size - _BLOCK) * i // (_SAMPLES - 1))
            crc = zlib.crc32(handle.read(_BLOCK), crc)
        return crc
