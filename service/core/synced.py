"""A StatementIndex kept current from a store, and the approximate index that speeds it up.

``sync()`` asks the store which articles changed since the version the index has applied and
reloads just those, so a write through any worker becomes visible to every worker at its next
sync (each check syncs first). Each sync also maps in the approximate index another process
saved and may start a background rebuild of it or a snapshot (``service.core.background``).

At start the index maps a snapshot of its rows (``service.core.snapshot``) and applies the
change feed after it; without a usable one it reloads every article, as before. Snapshots are
written by ``factcheck index`` and, in the background, by one process whenever the store has
moved on from the current snapshot by a fifth of its articles (or there is none).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.core.ann import AnnFiles, default_directory
from service.core.background import BackgroundIndex
from service.core.snapshot import SnapshotFiles, snapshot_directory, store_name
from service.store.base import Store

if TYPE_CHECKING:
    from service.config import Config

log = logging.getLogger(__name__)


class SyncedIndex(BackgroundIndex):
    """A StatementIndex that follows a store's change sequence (and, through
    ``service.core.background``, the approximate index and snapshots on disk)."""

    def __init__(
        self,
        store: Store,
        dimension: int,
        ann_files: AnnFiles | None = None,
        ann_min_statements: int = 20_000,
        background_builds: bool = True,
        snapshots: SnapshotFiles | None = None,
    ) -> None:
        super().__init__(dimension, ann_files, ann_min_statements, background_builds, snapshots)
        self.store = store
        self.built = False
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
