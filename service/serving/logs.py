"""Logging: one JSON object a line (or plain text for a terminal), and one line a request.

What is logged at INFO never includes a claim, an article text or a key: a request line has
the method, the path without its query string (a GET check carries the claim there), the
status, the time taken, the request id and the key's short hash.
"""

from __future__ import annotations

import json
import logging
import os
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
    handler = next((h for h in root.handlers if getattr(h, "_factcheck", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._factcheck = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(formatter(kind))


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
