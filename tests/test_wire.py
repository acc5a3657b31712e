"""What a hostile client or a slow network sends, over a real socket to real gunicorn: bodies
over the limit in either framing, clients that trickle, oversized request lines and headers,
bad header bytes. Every refusal is problem+json in the one shape."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.auth import AUTH, AUTH_ENV
from tests.live import LiveServer
from tests.rawhttp import Answer, chunked, exchange, read_answer, request, without_interim
from tests.spec import check_response

pytestmark = pytest.mark.slow  # every test here talks to one live gunicorn

LIMIT = 100_000  # FACTCHECK_MAX_REQUEST_BYTES of this module's server
READ_TIMEOUT_S = 3.0
THREADS = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "FACTCHECK_STORE": f"sqlite:///{tmp_path_factory.mktemp('wire') / 'factcheck.db'}",
        "FACTCHECK_MAX_REQUEST_BYTES": str(LIMIT),
        "FACTCHECK_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        "FACTCHECK_WORKER_THREADS": str(THREADS),
        **AUTH_ENV,
    }
    with LiveServer(env, workers=1) as live:  # one process: what one slow client can block
        yield live


def assert_problem(answer: Answer, status: int, method: str, path: str) -> None:
    """The status, as problem+json that openapi.yaml declares for the operation."""
    assert answer.status == status, answer.body[:300]
    assert answer.headers["content-type"].startswith("application/problem+json")
    check_response(method, path, status, answer.headers["content-type"], answer.json())
    assert answer.json()["status"] == status


def page(style_bytes: int, paragraphs: int = 800) -> bytes:
    """A news page: a large <style> first, then the article, whose last paragraph is known."""
    style = "p{color:#123}" * (style_bytes // 13)
    body = "".join(
        f"<p>On day {i} the harbour ferry carried {i * 7 + 3} passengers across the bay.</p>"
        for i in range(paragraphs)
    )
    return (
        f"<html><head><title>Ferry log | Wire Gazette</title><style>{style}</style></head>"
        f"<body><article><h1>Ferry log</h1>{body}</article></body></html>"
    ).encode()


LAST_PARAGRAPH = "On day 799 the harbour ferry carried 5596 passengers across the bay."
BIG_JSON = b'{"claim": "harbour ferry"' + b" " * (LIMIT + 50_000) + b"}"


def body_request(method: str, target: str, kind: str, body: bytes, framing: str) -> bytes:
    headers = {"Content-Type": kind, **AUTH}
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        return request(method, target, headers, chunked(body))
    headers["Content-Length"] = str(len(body))
    return request(method, target, headers, body)


@pytest.mark.parametrize("framing", ["chunked", "length"])
@pytest.mark.parametrize(
    ("method", "target", "kind", "body"),
    [
        # Cut at the limit, this page would still hold most of its paragraphs (stored: 201).
        ("POST", "/v1/articles?id=wire-big&source=Wire", "text/html", page(LIMIT * 9 // 10)),
        ("POST", "/v1/check", "application/json", BIG_JSON),
        ("GET", "/healthz", "application/json", BIG_JSON),
    ],
    ids=["html-page", "json-check", "healthz"],
)
def test_a_body_over_the_limit_is_413_however_framed(
    server: LiveServer, method: str, target: str, kind: str, body: bytes, framing: str
) -> None:
    assert len(body) > LIMIT
    answer = exchange(server.port, body_request(method, target, kind, body, framing))
    assert_problem(answer, 413, method, target.split("?")[0])
    stored = requests.get(f"{server.url}/v1/articles/wire-big", timeout=10)
    assert stored.status_code == 404  # nothing of it was stored, not even a truncated page


def test_a_chunked_page_under_the_limit_is_stored_whole(server: LiveServer) -> None:
    body = page(LIMIT // 4)
    assert len(body) < LIMIT
    raw = body_request(
        "POST", "/v1/articles?id=wire-whole&source=Wire", "text/html", body, "chunked"
    )
    answer = exchange(server.port, raw)
    assert answer.status == 201, answer.body[:300]
    stored = requests.get(f"{server.url}/v1/articles/wire-whole", timeout=10).json()
    assert stored["text"].rstrip().endswith(LAST_PARAGRAPH)


class Trickler:
    """Connections that send a head, then one byte of their body every half second; or that
    send nothing at all (idle)."""

    def __init__(self, port: int, count: int, idle: bool = False) -> None:
        head = request("POST", "/v1/check", {"Content-Type": "application/json"})
        head = head.replace(b"\r\n\r\n", b"\r\nContent-Length: 100\r\n\r\n")
        self.socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for sock in self.socks if not idle else []:
            sock.sendall(head)
        self.idle = idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for sock in self.socks if not self.idle else []:
                try:
                    sock.send(b" ")
                except OSError:
                    continue

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()


def healthz(port: int) -> Answer:
    return exchange(port, request("GET", "/healthz"), timeout_s=5)


@pytest.mark.parametrize(
    ("slow_clients", "idle"), [(2, False), (THREADS - 1, False), (3 * THREADS, True)]
)
def test_slow_clients_leave_healthz_answering(
    server: LiveServer, slow_clients: int, idle: bool
) -> None:
    """Trickling clients each hold a thread (until the read deadline), idle ones none."""
    with Trickler(server.port, slow_clients, idle):
        time.sleep(0.2)  # not synchronisation: lets the slow heads reach the worker first
        answers = [healthz(server.port) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert max(a.seconds for a in answers) < 1.0


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (
            b"POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n",
            b" ",
        ),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ", b"a"),
        (  # gunicorn answers 100 Continue before the body: the deadline must hold on
            b"POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n",
            b" ",
        ),
    ],
    ids=["body", "head", "expect-continue"],
)
def test_a_trickling_client_is_answered_408_at_the_read_deadline(
    server: LiveServer, head: bytes, drip: bytes
) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head)
        got = b""
        while time.monotonic() - started < 20:
            readable, _, _ = select.select([sock], [], [], 0.5)
            if readable:
                got += sock.recv(65536)
                if without_interim(got) or not got:  # a final answer has begun, or EOF
                    break
                continue  # 100 Continue: go on sending the body, slowly
            try:
                sock.send(drip)
            except OSError:
                break
        answer = read_answer(sock, started, got)
    assert_problem(answer, 408, *head.decode().split()[:2])
    assert READ_TIMEOUT_S - 0.5 < answer.seconds < READ_TIMEOUT_S + 3


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/healthz?pad=" + "a" * 30_000, 200),  # a GET check of the longest claim is ~24 KB
        ("/healthz?pad=" + "a" * 40_000, 414),
        ("/healthz?pad=" + "a" * 1_000_000, 414),
    ],
    ids=["30KB", "40KB", "1MB"],
)
def test_the_request_line_is_bounded(server: LiveServer, target: str, status: int) -> None:
    answer = exchange(server.port, request("GET", target))
    if status == 200:
        assert answer.status == 200
    else:
        assert_problem(answer, status, "GET", "/healthz")
    assert answer.seconds < 2.0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (request("GET", "/healthz", {"X-Big": "a" * 9000}), 431),
        (request("GET", "/healthz", {f"X-Many-{i}": "a" for i in range(120)}), 431),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Ctl: a\x00b\r\n\r\n", 400),
        (b"GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n", 400),
        (
            request(
                "POST",
                "/v1/check",
                {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                b"zz\r\n",
            ),
            400,
        ),
    ],
    ids=["8KB-header", "120-headers", "space-in-name", "nul-in-value", "version", "chunk-size"],
)
def test_the_servers_own_refusals_are_problem_json(
    server: LiveServer, raw: bytes, status: int
) -> None:
    answer = exchange(server.port, raw)
    method, target = raw.decode("latin-1").split()[:2]
    assert_problem(answer, status, method, target)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers.get("x-request-id")
