"""What every request gets: a request id, security headers, and one log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from service.serving.logs import log_request

access_log = logging.getLogger("factcheck.access")

# A JSON API: nothing may be framed, sniffed into another type, or load sub-resources.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# A caller's X-Request-ID is echoed only if it is a plain token: it ends up in logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id() -> str:
    return g.get("request_id") or "-"


def init_headers(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def _add_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        response.headers["X-Request-ID"] = request_id()
        log_request(
            access_log,
            g.get("started", time.perf_counter()),
            response.status_code,
            request_id=request_id(),
            method=request.method,
            path=request.path,  # never the query string: a GET check carries its claim there
            endpoint=request.endpoint,
            key=g.get("key_id"),
            remote=request.remote_addr,
        )
        return response
