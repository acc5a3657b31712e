"""Logging: one JSON object a line (or plain text for a terminal), and one line a request.

What is logged at INFO never includes a claim, an article text or a key: a request line has
the method, the path without its query string (a GET check carries the claim there), the
status, the time taken, the request id and the key's short hash.

In a gunicorn worker the lines are written by a thread of their own (`queue_writes`): a
request thread only puts its record on a queue, and formatting and the write to stderr
(with the handler's lock that every request thread waited on) happen off the request path.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import os
import queue
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

# LogRecord attributes that are ours to show (passed with `extra=`).
FIELDS = ("request_id", "method", "path", "endpoint", "status", "ms", "key", "remote")


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "pid", "msg", ...request fields, "exc"}."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process or os.getpid(),
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# Control characters, and what else a terminal or log shipper takes for a line break.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """One line whatever the text: a path with %0A in it cannot forge a log line."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """One line a record (the message escaped; a traceback, ours, follows as is)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))


def formatter(kind: str) -> logging.Formatter:
    if kind not in {"json", "text"}:
        raise ValueError(f"FACTCHECK_LOG_FORMAT must be json or text, not {kind!r}")
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure(level: str, kind: str) -> None:
    """Route the root logger to stderr in the chosen format (once per process)."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = _listener.handlers[0] if _listener else _ours(root)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._factcheck = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter(kind))


def _ours(root: logging.Logger) -> logging.Handler | None:
    return next((h for h in root.handlers if getattr(h, "_factcheck", False)), None)


# Enough for seconds of lines at full load; past it a request thread waits for the writer, as
# it waited on stderr before, instead of the queue growing without bound.
QUEUE_SIZE = 10_000


Lines = queue.Queue[logging.LogRecord | None]


class _Enqueue(logging.handlers.QueueHandler):
    """Puts the record itself on the queue (the stock one formats it first, on the request
    thread): only the message's %-args are resolved now, while they are what was logged."""

    def __init__(self, lines: Lines) -> None:
        super().__init__(lines)
        self.lines = lines
        # Set by flush_queue once it has drained the queue: from then on whoever puts a record
        # writes what is queued itself. A thread that took this handler from the root's list
        # just before the swap puts after the drain; nobody else would ever read its line.
        self.drained_to: logging.Handler | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        self.lines.put(record)  # blocks when full (QUEUE_SIZE)
        # Checked after the put: either the flush's drain comes later and takes the record,
        # or drained_to is already set and the record is written here.
        if self.drained_to is not None:
            _drain(self.lines, self.drained_to)


class _Listener(logging.handlers.QueueListener):
    def __init__(self, lines: Lines, handler: logging.Handler) -> None:
        super().__init__(lines, handler, respect_handler_level=True)
        self.lines = lines

    def enqueue_sentinel(self) -> None:
        self.lines.put(None)  # the stock put_nowait would raise on a full queue


_listener: _Listener | None = None


def queue_writes() -> None:
    """From now on this process's log lines are written by a thread (one per process: a
    thread does not survive fork, so call this in each gunicorn worker, not before).
    `flush_queue` writes what is left and puts the direct write back."""
    global _listener
    root = logging.getLogger()
    handler = _ours(root)
    if handler is None or _listener is not None:
        return
    lines: Lines = queue.Queue(QUEUE_SIZE)
    listener = _Listener(lines, handler)
    listener.start()
    _listener = listener
    # Swapped in place, in one step: no record goes to both handlers or to neither.
    root.handlers[root.handlers.index(handler)] = _Enqueue(lines)


def flush_queue() -> None:
    """Write every queued line and go back to writing on the caller's thread (worker exit)."""
    global _listener
    listener, root = _listener, logging.getLogger()
    if listener is None:
        return
    front = next(h for h in root.handlers if isinstance(h, _Enqueue))
    root.handlers[root.handlers.index(front)] = listener.handlers[0]
    listener.stop()  # after the swap: what a thread logs meanwhile is written directly
    front.drained_to = listener.handlers[0]
    _drain(listener.lines, front.drained_to)  # a record a thread put after the sentinel
    _listener = None


def _drain(lines: Lines, handler: logging.Handler) -> None:
    """Write what is on a queue whose writer thread has stopped."""
    while True:
        try:
            record = lines.get_nowait()
        except queue.Empty:
            return
        if record is not None and record.levelno >= handler.level:
            handler.handle(record)


def log_request(logger: logging.Logger, started: float, status: int, **fields: Any) -> None:
    ms = round((time.perf_counter() - started) * 1000, 2)
    logger.info(
        "%s %s %s %sms",
        fields.get("method"),
        fields.get("path"),
        status,
        ms,
        extra={**fields, "status": status, "ms": ms},
    )
