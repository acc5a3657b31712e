"""Generation directories: how the approximate index and the index snapshot are kept on disk.

A save writes ``<dir>/.tmp-g-<token>/``, fsyncs what it wrote, renames it ``<dir>/g-<token>/``
and then replaces ``<dir>/CURRENT`` (itself written under a temporary name and fsynced), so a
reader sees one whole generation or the previous one, never half of one. Older generations are
removed afterwards: a process still mapping one keeps its pages until it lets go of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CURRENT = "CURRENT"


def publish(directory: Path, write: Callable[[Path], None]) -> str:
    """A new generation: `write` fills a temporary folder, which becomes current."""
    directory.mkdir(parents=True, exist_ok=True)
    generation = f"g-{int(time.time())}-{secrets.token_hex(4)}"
    temporary = directory / f".tmp-{generation}"
    temporary.mkdir()
    try:
        write(temporary)
        fsync_files(temporary)
        fsync_dir(temporary)
        os.replace(temporary, directory / generation)
        pointer = directory / f".{CURRENT}.{generation}"
        with open(pointer, "w") as handle:
            handle.write(generation + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, directory / CURRENT)
        fsync_dir(directory)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for old in directory.glob("g-*"):
        if old.name != generation:
            shutil.rmtree(old, ignore_errors=True)
    return generation


@contextlib.contextmanager
def exclusive(directory: Path, name: str) -> Iterator[bool]:
    """Yields True in the one process holding `<directory>/<name>` now, False in every other."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fsync_files(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
