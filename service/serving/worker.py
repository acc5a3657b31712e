"""The gunicorn worker: threads per process, one deadline for reading each request, a bounded
request line, and gunicorn's own refusals (414, 431, 400...) as problem+json.

gunicorn's gthread worker waits for a connection's first byte without a thread, but once a
request has started, a thread reads it with blocking reads and no limit: a client trickling a
byte a second holds that thread for as long as it likes. Here every read of a request shares
one deadline (FACTCHECK_READ_TIMEOUT_S), so such a client is answered 408 and dropped.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

from gunicorn import util
from gunicorn.http import errors as gerrors
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import _DEFER, ThreadWorker

from schemas.problem import ProblemSchema
from service.config import Config

PROBLEM_JSON = "application/problem+json"
# How long a thread waits for a new connection's first bytes before handing it back to the
# poller (gunicorn waits 5 s: a few idle connections would hold every thread that long).
FIRST_BYTES_WAIT_S = 0.1
# Answers the app never sees carry the same hardening headers as the ones it writes.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def request_line_limit(config: Config) -> int:
    """Longest request line: a GET check of the longest claim, every character a 4-byte one
    percent-encoded (12 bytes), plus 8 KiB for the other parameters."""
    return max(8190, 12 * config.max_claim_chars + 8192)


class RequestTimeout(Exception):
    """The client took longer than the read deadline to send its request."""


class DeadlineSocket:
    """A client socket whose reads for one request share one deadline, which starts at the
    request's first read and ends with the first write (the answer): a per-read timeout would
    not stop a client that sends a byte just before each one expires."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._seconds = seconds
        self._armed = False
        self._deadline: float | None = None

    def arm(self) -> None:
        self._armed, self._deadline = True, None

    def recv(self, size: int, *flags: int) -> bytes:
        if not self._armed:
            return self._sock.recv(size, *flags)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        remaining = self._deadline - now
        if remaining <= 0:
            raise RequestTimeout
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            raise RequestTimeout from None
        finally:
            self._sock.settimeout(previous)

    def _answering(self, data: bytes) -> None:
        # An interim answer (100 Continue, 103) comes before the body: the deadline holds on.
        if not bytes(data[:10]).startswith(b"HTTP/1.1 1"):
            self._armed = False

    def send(self, data: bytes, *flags: int) -> int:
        self._answering(data)
        return self._sock.send(data, *flags)

    def sendall(self, data: bytes, *flags: int) -> None:
        self._answering(data)
        self._sock.sendall(data, *flags)

    def __getattr__(self, name: str) -> Any:  # fileno, setblocking, shutdown, close...
        return getattr(self._sock, name)


class BoundedRequest(Request):
    """gunicorn caps limit_request_line at 8190 (and 0 means unlimited); ours is set here."""

    limit = 8190

    def parse(self, unreader: Any) -> Any:
        self.limit_request_line = self._fast_limit_request_line = self.limit
        return super().parse(unreader)


class BoundedParser(RequestParser):
    mesg_class = BoundedRequest


# (exception, status, title, detail): gunicorn's own refusals, before the app sees a request.
_REFUSALS: list[tuple[type[BaseException], int, str, str]] = [
    (
        RequestTimeout,
        408,
        "Request Timeout",
        "The request was not received in time (FACTCHECK_READ_TIMEOUT_S).",
    ),
    (
        gerrors.LimitRequestLine,
        414,
        "URI Too Long",
        "The request line is too long; send a long claim with POST /v1/check.",
    ),
    (
        gerrors.LimitRequestHeaders,
        431,
        "Request Header Fields Too Large",
        "A header field, or the number of them, exceeds the server's limit.",
    ),
    (gerrors.ExpectationFailed, 417, "Expectation Failed", "Only Expect: 100-continue is met."),
    (gerrors.UnsupportedTransferCoding, 501, "Not Implemented", "Unsupported transfer coding."),
    (gerrors.ForbiddenProxyRequest, 403, "Forbidden", "The request is forbidden."),
]
_BAD_REQUEST = (
    gerrors.InvalidRequestLine,
    gerrors.InvalidRequestMethod,
    gerrors.InvalidHTTPVersion,
    gerrors.InvalidHeader,
    gerrors.InvalidHeaderName,
    gerrors.InvalidProxyLine,
    gerrors.InvalidSchemeHeaders,
    gerrors.ObsoleteFolding,
    gerrors.InvalidChunkSize,
    gerrors.ChunkMissingTerminator,
    gerrors.InvalidChunkExtension,
    gerrors.NoMoreData,
)


def refusal(exc: BaseException) -> tuple[int, str, str] | None:
    """The status, title and detail of a request gunicorn refused, or None (a server fault)."""
    for kind, status, title, detail in _REFUSALS:
        if isinstance(exc, kind):
            return status, title, detail
    if isinstance(exc, _BAD_REQUEST):
        return 400, "Bad Request", "The request is not valid HTTP/1.1."
    return None


def problem_response(status: int, title: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer in the one problem+json shape (service/api/errors.py)."""
    body = json.dumps(
        ProblemSchema().dump(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}
        )
    ).encode()
    headers = {
        "Connection": "close",
        "Content-Type": PROBLEM_JSON,
        "Content-Length": str(len(body)),
        "X-Request-ID": uuid.uuid4().hex,
        **_HEADERS,
    }
    head = f"HTTP/1.1 {status} {title}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class Worker(ThreadWorker):
    """gunicorn's gthread worker with a read deadline, a bounded request line and problem+json
    refusals (set as worker_class in service/serving/gunicorn_conf.py)."""

    def init_process(self) -> None:
        config = Config.from_env()
        self.read_timeout = config.read_timeout_s
        BoundedRequest.limit = request_line_limit(config)
        super().init_process()

    def handle(self, conn: Any) -> Any:
        # TLS and HTTP/2 keep gunicorn's own path (they need the real socket); this service
        # expects both to end at the proxy in front (README: production).
        plain = not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(
            self.cfg, conn.client
        )
        if plain and not conn.initialized and conn.parser is None:
            conn.sock = DeadlineSocket(conn.sock, self.read_timeout)
            conn.parser = BoundedParser(self.cfg, conn.sock, conn.client)
        if not conn.initialized and not conn.wait_for_data(FIRST_BYTES_WAIT_S):
            return _DEFER  # no thread held: the poller hands it back once readable
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.arm()
        return super().handle(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        found = refusal(exc)
        if found is None:
            self.log.exception("Error handling request")
            found = (500, "Internal Server Error", "An unexpected error occurred.")
        else:
            ip = addr[0] if addr else ""
            self.log.warning("Invalid request from ip=%s: %s %s", ip, found[0], type(exc).__name__)
        try:
            util.write_nonblock(client, problem_response(*found))
        except Exception:
            self.log.debug("Failed to send error message.")
