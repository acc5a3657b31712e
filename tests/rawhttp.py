"""HTTP/1.1 over a raw socket, for what a client library will not send: chunked bodies of our
choosing, trickled bytes, oversized request lines and bad header bytes."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def chunked(body: bytes, size: int = 8192) -> bytes:
    """The body in Transfer-Encoding: chunked framing."""
    parts = [
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def request(
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "test",
) -> bytes:
    """host: a keyless server answers loopback names only (service/api/hosts.py)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return head.encode("latin-1") + b"\r\n" + body


def without_interim(data: bytes) -> bytes:
    """What follows any complete interim (1xx) answers at the start of data."""
    while data.startswith(b"HTTP/1.1 1") and b"\r\n\r\n" in data:
        data = data.split(b"\r\n\r\n", 1)[1]
    return data


def read_answer(sock: socket.socket, started: float, data: bytes = b"") -> Answer:
    """Read one final answer, past interim ones (to the end of its Content-Length, or of the
    connection); data: what was already read of it."""
    data = without_interim(data)
    while b"\r\n\r\n" not in data or data.startswith(b"HTTP/1.1 1"):
        part = sock.recv(65536)
        if not part:
            raise ConnectionError(f"connection closed before an answer: {data!r}")
        data = without_interim(data + part)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return Answer(int(lines[0].split()[1]), headers, body, time.monotonic() - started)


def exchange(port: int, raw: bytes, timeout_s: float = 30) -> Answer:
    """Send a whole request and read the answer; a server that answers before it has read
    everything (and closes) may reset the rest of the send, which is not an error here."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_answer(sock, started)
