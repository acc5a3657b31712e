"""The request log written by a thread of each worker (service/serving/logs.py queue_writes):
every answered request still has its line on the server's stderr, also when the server is
stopped (SIGTERM) with requests in flight and lines queued behind a full pipe; the worker's
exit hook writes what is queued before os._exit (which, left out, loses lines: the exit test
fails); and a line reads as it did when written directly."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from service.serving import logs
from tests.auth import AUTH, AUTH_ENV
from tests.live import ROOT, LiveServer


class HeldServer(LiveServer):
    """A live server whose output the test can stop reading for a while (`reading`): the pipe
    fills, a worker's writer thread blocks on it, and its lines wait in the worker's queue."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, workers=2)
        self.reading = threading.Event()
        self.reading.set()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.reading.wait()
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)


def _server(tmp_path: Path) -> HeldServer:
    env = {
        "FACTCHECK_STORE": f"sqlite:///{tmp_path / 'factcheck.db'}",
        "FACTCHECK_LOG_FORMAT": "json",
        # Several threads from one address: the test is about lines, not the limiter.
        "FACTCHECK_RATE_LIMIT_READS": "off",
        **AUTH_ENV,
    }
    server = HeldServer(env)
    server.start()
    return server


def _check(session: requests.Session, url: str, claim: str) -> str:
    """POST a check under a fresh request id; the id once it is answered."""
    rid = uuid.uuid4().hex
    answer = session.post(
        f"{url}/v1/check",
        json={"claim": claim},
        headers={**AUTH, "X-Request-ID": rid},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == rid
    return rid


def _access_ids(server: LiveServer) -> list[str]:
    return [r["request_id"] for r in server.records() if r.get("logger") == "factcheck.access"]


# Access lines are ~300 bytes: 800 of them are well past a pipe's 64 KiB and the reader's buffer.
HELD = 800


@pytest.mark.slow
def test_every_answered_request_has_its_line_through_a_graceful_stop(tmp_path: Path) -> None:
    server = _server(tmp_path)
    answered: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    try:
        # A running server: every line reaches the output.
        with requests.Session() as session:
            first = [_check(session, server.url, f"ferry number {n}") for n in range(30)]
        deadline = time.monotonic() + 30
        while not set(first) <= set(_access_ids(server)):
            assert time.monotonic() < deadline, "request lines missing from a running server"
            with contextlib.suppress(queue.Empty):
                server.next_line(timeout_s=1)  # each line as it comes

        # The output is not read: lines queue up in the workers, the requests go on. Then
        # SIGTERM with requests in flight; the workers finish them and must write every line.
        server.reading.clear()

        def client(n: int) -> None:
            with requests.Session() as session:
                for i in range(100_000):
                    try:
                        rid = _check(session, server.url, f"ferry {n} crossing {i}")
                    except (requests.ConnectionError, AssertionError):
                        return  # the server is stopping: this one was not answered
                    with lock:
                        answered.append(rid)
                        if len(answered) >= HELD:
                            enough.set()

        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in clients:
            t.start()
        assert enough.wait(timeout=120), f"only {len(answered)} answers with the output held"
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        server.reading.set()
        status = server.proc.wait(timeout=30)
        for t in clients:
            t.join(timeout=60)
    finally:
        server.reading.set()
        server.stop()  # also reads the rest of the output
    assert status == 0, server.log()[-2000:]
    logged = _access_ids(server)
    with lock:
        missing = [rid for rid in answered if rid not in set(logged)]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no line"
    assert len(logged) == len(set(logged)), "a request was logged twice"
    assert server.log().count("Worker exiting") == 2


# A worker's last moment, run as gunicorn runs it (gunicorn_conf.worker_exit, then os._exit):
# the lines were only queued, and the writer thread has had no time to write them.
WORKER_EXIT = """
import logging, os, types
from service.serving import gunicorn_conf, logs
logs.configure("INFO", "json")
logs.queue_writes()
for n in range(LINES):
    logging.getLogger("factcheck.access").info("line %d", n)
gunicorn_conf.worker_exit(None, types.SimpleNamespace(pid=os.getpid()))
"""


def test_worker_exit_writes_every_queued_line_before_it_leaves(tmp_path: Path) -> None:
    lines = 5000
    done = subprocess.run(
        [sys.executable, "-c", WORKER_EXIT.replace("LINES", str(lines))],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = [json.loads(line)["msg"] for line in done.stderr.splitlines()]
    assert written == [f"line {n}" for n in range(lines)]


@pytest.mark.parametrize("kind", ["json", "text"])
def test_a_queued_line_reads_as_a_direct_one(kind: str) -> None:
    """The same record, written directly and through the queue: the same line, escaped alike
    (the queue resolves only the message's args before the thread formats it)."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    stream = io.StringIO()
    logs.configure("INFO", kind)
    ours = root.handlers[0]
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(stream)
    logger = logging.getLogger("factcheck.access")
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "%s %s %s", ("GET", "/v1/x\nforged", 404), None
    )
    try:
        root.handle(record)
        logs.queue_writes()
        assert root.handlers != [ours]
        logs.configure("INFO", kind)  # the app configured again: no second handler
        root.handle(record)
        logs.flush_queue()
        assert root.handlers == [ours]
    finally:
        logs.flush_queue()
        root.handlers = saved
    direct, queued = stream.getvalue().splitlines()
    assert direct == queued
    assert "forged" in direct and "\n" not in direct


def test_a_line_logged_through_the_queue_after_its_flush_is_written() -> None:
    """A thread that took the queue's handler from the root's list just before flush_queue
    swapped it out (Logger.callHandlers walks that list) puts its record after the drain: it
    is written all the same, not left on a queue nobody reads before os._exit."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    stream = io.StringIO()
    logs.configure("INFO", "json")
    ours = root.handlers[0]
    assert isinstance(ours, logging.StreamHandler)
    ours.setStream(stream)
    logger = logging.getLogger("factcheck.access")
    try:
        logs.queue_writes()
        [front] = root.handlers
        logger.info("before the flush")
        logs.flush_queue()
        front.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 1, "late", (), None))
    finally:
        logs.flush_queue()
        root.handlers = saved
    written = [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]
    assert written == ["before the flush", "late"]
