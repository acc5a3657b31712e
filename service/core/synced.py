"""A StatementIndex kept current from a store, and the approximate index that speeds it up.

``sync()`` asks the store which articles changed since the version the index has applied and
reloads just those, so a write through any worker becomes visible to every worker at its next
sync (each check syncs first). It also follows the approximate index on disk (``service.core.ann``):
a generation saved by any process is mapped in at the next sync, and when the index has outgrown
its approximate index one process rebuilds it in a background thread while checks go on.

At start the index maps a snapshot of its rows (``service.core.snapshot``) and applies the
change feed after it; without a usable one it reloads every article, as before. Snapshots are
written by ``factcheck index`` and, in the background, by one process whenever the store has
moved on from the current snapshot by a fifth of its articles (or there is none).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from service.core.ann import AnnFiles, AnnIndex, default_directory
from service.core.index import StatementIndex
from service.core.snapshot import SnapshotFiles, snapshot_directory, store_name
from service.store.base import Store

if TYPE_CHECKING:
    from service.config import Config

log = logging.getLogger(__name__)

# Rebuild the approximate index once statements written or deleted since its build reach this
# share of the live ones: they are scanned exactly, so the share bounds the scan a check pays.
REBUILD_SHARE = 0.2
# A process that found another one building looks again after this long.
RETRY_BUILD_S = 30.0


class SyncedIndex(StatementIndex):
    """A StatementIndex that follows a store's change sequence."""

    def __init__(
        self,
        store: Store,
        dimension: int,
        ann_files: AnnFiles | None = None,
        ann_min_statements: int = 20_000,
        background_builds: bool = True,
        snapshots: SnapshotFiles | None = None,
    ) -> None:
        super().__init__(dimension)
        self.store = store
        self._sync_lock = threading.Lock()
        self.built = False
        self.head: str | None = None  # the article whose change carries self.version
        self.ann_files = ann_files
        self.ann_min_statements = ann_min_statements
        self._ann_stamp: tuple[int, int] | None = None
        self._follow_lock = threading.Lock()  # the builder and a request may both follow
        # A short-lived process (factcheck check) must not start a build it would cut short.
        self.background_builds = background_builds
        self.builder: threading.Thread | None = None  # the latest background build
        self._builder_lock = threading.Lock()  # request threads (gthread) look at once
        self._next_build_try = 0.0
        self._stale_checked = -1
        self.snapshots = snapshots
        self.snapshot_writer: threading.Thread | None = None
        self._next_snapshot_try = 0.0
        self.restored_from: str | None = None  # the snapshot generation the start mapped

    def rebuild(self) -> None:
        """Map the saved snapshot and apply the changes after it, or else load every article;
        then map in the saved approximate index. Changes made during the load are applied by
        the next sync.

        Nothing is built or written here: under gunicorn's preload this runs in the master,
        and a thread started before the fork would be lost in the workers.
        """
        with self._sync_lock:
            if not self._restore_snapshot():
                self._load_all()
        self._follow_ann()
        self.sync(build=False)

    def _restore_snapshot(self) -> bool:
        """Become the saved snapshot plus the change feed after it; False when there is none
        fit for this store (the caller then reloads everything)."""
        snap = self.snapshots.load() if self.snapshots is not None else None
        if snap is None:
            return False
        changes = self.store.changes_since(snap.version, snap.head)
        if not changes.intact:
            log.warning(
                "index snapshot %s is at version %d, which this store's history does not hold "
                "(wiped, restored or another store); rebuilding from the store",
                snap.generation,
                snap.version,
                extra={"event": "snapshot_ignored"},
            )
            return False
        with self._lock:
            self.restore(snap.state)
            self._ann_stamp, self._stale_checked = None, -1
            self.version, self.head = snap.version, snap.head
            self._apply(changes.article_ids)
            self.version, self.head = changes.version, changes.head
        # A last guard against a snapshot of another store with a history that happens to fit:
        # the article count must agree (checked only when no write came in between).
        count = self.store.count_articles()
        if self.store.version() == self.version and count != len(self._rows):
            log.warning(
                "index snapshot %s plus the change feed holds %d articles, the store %d; "
                "rebuilding from the store",
                snap.generation,
                len(self._rows),
                count,
                extra={"event": "snapshot_ignored"},
            )
            return False
        log.info(
            "index restored from snapshot %s (version %d) and %d changes after it",
            snap.generation,
            snap.version,
            len(changes.article_ids),
            extra={"event": "snapshot_restored"},
        )
        self.built, self.restored_from = True, snap.generation
        return True

    def _apply(self, article_ids: list[str]) -> None:
        """Reload (or drop) the given articles from the store."""
        if not article_ids:
            return
        loaded = self.store.load_index_data(article_ids)
        with self._lock:
            for article_id in article_ids:
                if article_id in loaded:
                    self.replace(article_id, loaded[article_id])
                else:
                    self.remove(article_id)

    def _load_all(self) -> None:
        self.built, self.restored_from = False, None
        # Read the head first: writes during the load are replayed by the next sync.
        start = self.store.changes_since(self.store.version())
        with self._lock:
            self._reset()  # a reload after a failure or a store reset leaves no ghosts
            # _reset() detached the approximate index: the next follow must map it again.
            self._ann_stamp = None
            self._stale_checked = -1
            for article_id, data in self.store.iter_index_data():
                self.replace(article_id, data)
            self.lexical.settle()
            self.version, self.head = start.version, start.head
        self.built = True

    def sync(self, build: bool = True) -> int:
        """Apply the store's changes since our version; returns the version now reached.

        An index whose first load failed (store down at start) loads everything here, and so
        does one whose store lost history it had seen (wiped, or restored from a backup).
        """
        with self._sync_lock:
            if not self.built:
                self._load_all()
            changes = self.store.changes_since(self.version, self.head)
            if not changes.intact:
                # The store was wiped or restored from an older copy: sequence numbers at or
                # below ours may now name other writes, so only a full reload is safe.
                self._load_all()
                changes = self.store.changes_since(self.version, self.head)
            self._apply(changes.article_ids)
            self.version, self.head = changes.version, changes.head
        self._follow_ann()
        if build and self.background_builds:
            self._maybe_build()
            self._maybe_snapshot()
        return self.version

    # -- snapshots (service.core.snapshot) ----------------------------------------------
    def write_snapshot(self) -> str | None:
        """Save the rows as they stand now; None if another process is writing one.

        The rows are captured under the lock (views and small copies); the files are written
        outside it, so checks and syncs go on meanwhile.
        """
        if self.snapshots is None:
            raise RuntimeError("this index keeps no snapshots")
        with self.snapshots.write_lock() as mine:
            if not mine:
                return None
            with self._sync_lock, self._lock:
                state, version, head = self.capture(), self.version, self.head
            started = time.perf_counter()
            generation = self.snapshots.save(state, version, head)
            log.info(
                "index snapshot %s of %d statements at version %d written in %.1f s",
                generation,
                state.live,
                version,
                time.perf_counter() - started,
                extra={"event": "snapshot_written"},
            )
            return generation

    def needs_snapshot(self) -> bool:
        """Large enough to be worth one, and none yet or a fifth of the articles behind."""
        if self.snapshots is None or self._live < max(self.ann_min_statements, 1):
            return False
        saved = self.snapshots.current_version()
        return saved is None or self.version - saved > REBUILD_SHARE * max(len(self._rows), 1)

    def _maybe_snapshot(self) -> None:
        with self._builder_lock:
            writing = self.snapshot_writer is not None and self.snapshot_writer.is_alive()
            if writing or time.monotonic() < self._next_snapshot_try:
                return
            self._next_snapshot_try = time.monotonic() + RETRY_BUILD_S
            if not self.needs_snapshot():
                return
            self.snapshot_writer = threading.Thread(target=self._snapshot_quietly)
            self.snapshot_writer.name, self.snapshot_writer.daemon = "index-snapshot", True
            self.snapshot_writer.start()

    def _snapshot_quietly(self) -> None:
        try:
            self.write_snapshot()
        except Exception:  # a failed write leaves the previous snapshot, never a 500
            log.exception("index snapshot failed; the next start rebuilds from the store")

    # -- the approximate index (service.core.ann) -------------------------------------------
    def _follow_ann(self) -> None:
        """Map in the current generation when another process (or we) saved one."""
        if self.ann_files is None:
            return
        with self._follow_lock:
            stamp = self.ann_files.stamp()
            if stamp != self._ann_stamp:
                self._ann_stamp = stamp
                self.attach(self.ann_files.load() if stamp is not None else None)

    def needs_ann(self) -> bool:
        """Large enough for an approximate index, and none yet or a fifth of it out of date."""
        if self.ann_files is None or self._live < max(self.ann_min_statements, 1):
            return False
        staleness = self.ann_staleness()
        if staleness is None:
            return True
        tail, dead = staleness
        return tail + dead > REBUILD_SHARE * self._live

    def _maybe_build(self) -> None:
        with self._builder_lock:  # else two request threads could each start a builder
            self._maybe_build_locked()

    def _maybe_build_locked(self) -> None:
        building = self.builder is not None and self.builder.is_alive()
        if building or time.monotonic() < self._next_build_try:
            return
        if self._mutations == self._stale_checked:  # nothing changed since the last look
            return
        self._stale_checked = self._mutations
        if not self.needs_ann():
            return
        self._next_build_try = time.monotonic() + RETRY_BUILD_S
        self.builder = threading.Thread(target=self._build_quietly, name="ann-build")
        self.builder.daemon = True  # a build cut short by exit leaves the old generation
        self.builder.start()

    def _build_quietly(self) -> None:
        try:
            self.build_ann(threads=1)
        except Exception:  # a failed build leaves exact search, never a 500
            log.exception("approximate index build failed; checks keep scanning exactly")
        finally:
            self._stale_checked = -1

    def build_ann(self, threads: int = 0) -> bool:
        """Build an approximate index of the live statements, save it and search through it.
        Only one process builds at a time; returns False if another one is building."""
        if self.ann_files is None:
            raise RuntimeError("this index keeps no approximate index (FACTCHECK_ANN=off)")
        with self.ann_files.build_lock() as mine:
            if not mine:
                return False
            vectors, keys = self.ann_snapshot()
            started = time.perf_counter()
            ann = AnnIndex.build(vectors, keys, threads)
            self.ann_files.save(ann)
            log.info(
                "approximate index of %d statements built in %.1f s",
                len(keys),
                time.perf_counter() - started,
                extra={"event": "ann_built"},
            )
        del ann  # searched through the saved file instead: mapped, shared by all workers
        self._follow_ann()
        return True


def open_index(
    config: Config, store: Store, model: str, dimension: int, background_builds: bool = True
) -> SyncedIndex:
    """The index the config asks for (not loaded yet: call ``rebuild()``)."""
    mode = config.ann.strip().lower()
    if mode not in ("auto", "off"):
        raise ValueError(f"FACTCHECK_ANN={config.ann!r}: use auto or off")
    ann_files = None
    folder = config.ann_dir or default_directory(config.store)
    if mode == "auto":
        ann_files = AnnFiles(folder, model, dimension)
    snapshots = SnapshotFiles(
        snapshot_directory(folder, config.store, config.redis_prefix),
        store_name(config.store, config.redis_prefix),
        model,
        dimension,
    )
    return SyncedIndex(
        store, dimension, ann_files, config.ann_min_statements, background_builds, snapshots
    )
