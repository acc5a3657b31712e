"""What an sqlite3 error means for the SQLite store: refusing writes until someone fixes the
file (read-only, full disk), or failing in a way that may pass (a lock held, an I/O error)."""

from __future__ import annotations

import os
import sqlite3

from service.store.base import StoreRefusingWrites, StoreUnavailable

# SQLite's answers to a write it cannot make until someone fixes the file (not a lock held
# a while), with what to look at.
_REFUSALS = {
    sqlite3.SQLITE_READONLY: "the file, or its folder, is read-only",
    sqlite3.SQLITE_CANTOPEN: "the file, or its folder, cannot be opened for writing",
    sqlite3.SQLITE_FULL: "the disk is full",
}


def read_only(path: str) -> str | None:
    """The database file (or its WAL or shared memory) that cannot be written, if any:
    access(2) sees permissions, immutable files and read-only mounts alike."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix) and not os.access(path + suffix, os.W_OK):
            return path + suffix
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(path + "-wal") and not os.access(folder, os.W_OK):
        return f"its folder {folder} (where the WAL file goes)"
    return None


def failure(what: str, exc: sqlite3.Error, path: str) -> StoreUnavailable:
    """The store error for an sqlite3 error: refusing writes, or failing (may pass)."""
    code = getattr(exc, "sqlite_errorcode", None)
    # Read-only first: SQLite says so as "readonly", "unable to open" or, to a connection
    # opened before the file turned read-only, an I/O error.
    locked = read_only(path)
    hint = f"{locked} is read-only" if locked else None
    if hint is None and code is not None:
        hint = _REFUSALS.get(code & 0xFF)  # an extended code keeps the primary in its low byte
    if hint is not None:
        return StoreRefusingWrites(f"{what}: {hint} ({exc})")
    return StoreUnavailable(f"{what}: {exc}")
