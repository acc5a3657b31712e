"""The index's work beside the change feed: the approximate index (``service.core.ann``)
followed on disk and rebuilt, and snapshots of the rows (``service.core.snapshot``) written.

A generation saved by any process is mapped in at the next sync; when the index has outgrown
its approximate index, or the store has moved on from the current snapshot by a fifth of its
articles (or there is none), one process rebuilds or writes it in a background thread while
checks go on. ``factcheck index`` does both in the foreground.
"""

from __future__ import annotations

import logging
import threading
import time

from service.core.ann import AnnFiles, AnnIndex
from service.core.index import StatementIndex
from service.core.snapshot import SnapshotFiles

log = logging.getLogger(__name__)

# Rebuild the approximate index once statements written or deleted since its build reach this
# share of the live ones: they are scanned exactly, so the share bounds the scan a check pays.
REBUILD_SHARE = 0.2
# A process that found another one building looks again after this long.
RETRY_BUILD_S = 30.0


class BackgroundIndex(StatementIndex):
    """A StatementIndex that maps in the saved approximate index, and rebuilds it and writes
    snapshots in background threads; ``service.core.synced`` moves ``version`` and ``head``
    along the store's change feed (under ``_sync_lock``) and calls these from its syncs."""

    def __init__(
        self,
        dimension: int,
        ann_files: AnnFiles | None,
        ann_min_statements: int,
        background_builds: bool,
        snapshots: SnapshotFiles | None,
    ) -> None:
        super().__init__(dimension)
        self._sync_lock = threading.Lock()  # held by a sync, and while a snapshot captures
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
