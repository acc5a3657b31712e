"""The request-body guard: every body is read whole before the app runs, and one over
FACTCHECK_MAX_REQUEST_BYTES is refused with 413 however it is framed.

werkzeug enforces MAX_CONTENT_LENGTH on a declared Content-Length only; a chunked body
(``wsgi.input_terminated``) is just cut at the limit, so the app would take its first 2 MiB
for the whole request. Reading the body here, outside Flask, also means that a client too slow
to send it (service/serving/worker.py: the read deadline) is answered by the server with 408, not
by the app's handler for unexpected errors with 500.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

TOO_LARGE = "factcheck.body_too_large"
_READ = 64 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def declared_length(environ: dict[str, Any]) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


class BodyGuard:
    """WSGI middleware: buffers a body of at most ``limit`` bytes, marks a larger one."""

    def __init__(self, app: WsgiApp, limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        declared = declared_length(environ)
        framed = environ.get("wsgi.input_terminated") or "HTTP_TRANSFER_ENCODING" in environ
        if declared is not None and declared > self.limit:
            self._refuse(environ)  # not read at all: the answer is the same at any size
        elif declared or (declared is None and framed):
            body = self._read(environ["wsgi.input"], declared)
            if len(body) > self.limit:
                self._refuse(environ)
            else:
                self._replace(environ, body)
        return self.app(environ, start_response)

    def _read(self, stream: Any, declared: int | None) -> bytes:
        """The body, or its first limit + 1 bytes when it is longer."""
        wanted = declared if declared is not None else self.limit + 1
        parts, got = [], 0
        while got < wanted:
            part = stream.read(min(_READ, wanted - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    @staticmethod
    def _replace(environ: dict[str, Any], body: bytes) -> None:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False  # a plain body of known length now

    def _refuse(self, environ: dict[str, Any]) -> None:
        environ[TOO_LARGE] = True
        self._replace(environ, b"")


def init_body_guard(app: Flask, limit: int) -> None:
    """Wrap the app in the guard; a marked request is answered 413 (problem+json) before
    any view runs, on every route, so nothing of it is stored."""
    app.wsgi_app = BodyGuard(app.wsgi_app, limit)  # type: ignore[method-assign]

    @app.before_request
    def _refuse_too_large() -> None:
        if request.environ.get(TOO_LARGE):
            raise RequestEntityTooLarge()
