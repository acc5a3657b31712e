"""`factcheck serve` (gunicorn) as a child process on a free loopback port, returned once every
worker has logged its ready line: the one way tests/ and bench/ start a live server."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Logged by gunicorn_conf.post_worker_init once a worker has loaded the app (model and index).
READY_LINE = "factcheck worker ready"


# gunicorn's words when the port it was given is taken (it retries, then exits).
ADDRESS_IN_USE = "Address already in use"
BIND_ATTEMPTS = 3


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The server's output is read line by line by a thread (so a chatty server never blocks on
    a full pipe) into `lines`, and into a queue for tests that wait for a line to come.

    `root` is the checkout whose service runs (bench compares another commit's). With
    `time_readyz`, start() also waits for the first 200 from /readyz and records how long that
    took in `ready_s` (bench's start-to-ready figure); `all_ready_s` is always recorded."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        root: Path = ROOT,
        time_readyz: bool = False,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.time_readyz = time_readyz
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None
        self._pump_thread: threading.Thread | None = None
        self.ready_s: float | None = None  # start -> first /readyz 200 (with time_readyz)
        self.all_ready_s: float | None = None  # start -> every worker has logged ready

    def start(self, timeout_s: float = 120) -> LiveServer:
        """Start the server and wait until every worker is ready. A port picked free can be
        taken by another process before the server binds it (parallel test workers do):
        then it starts again on a new port, up to BIND_ATTEMPTS times."""
        for attempt in range(1, BIND_ATTEMPTS + 1):
            try:
                return self._start(timeout_s)
            except RuntimeError:
                if attempt == BIND_ATTEMPTS or ADDRESS_IN_USE not in self.log():
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.lines, self._queue = [], queue.Queue()
        raise AssertionError("unreachable")

    def _start(self, timeout_s: float) -> LiveServer:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
            ],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        try:
            self._wait_ready(started, timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def _wait_ready(self, started: float, timeout_s: float) -> None:
        deadline = started + timeout_s
        ready = 0
        while ready < self.workers or (self.time_readyz and self.ready_s is None):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("server not ready:\n" + self.log())
            if self.time_readyz and self.ready_s is None and _status(self.url + "/readyz") == 200:
                self.ready_s = time.perf_counter() - started
                continue
            # Lines are waited for as they come; /readyz, when timed, is asked every 20 ms.
            wait = min(0.02, remaining) if self.time_readyz else remaining
            if ready >= self.workers:
                time.sleep(wait)  # every worker is ready: only /readyz's first 200 is left
                continue
            try:
                line = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("server exited during start:\n" + self.log())
            if READY_LINE in line:
                ready += 1
                if ready == self.workers:
                    self.all_ready_s = time.perf_counter() - started

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def next_line(self, timeout_s: float = 120) -> str | None:
        """The next line the server logs (in order, none skipped), None once it has exited."""
        return self._queue.get(timeout=timeout_s)

    def log(self) -> str:
        return "".join(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The server's log lines that are JSON objects (FACTCHECK_LOG_FORMAT=json)."""
        found = []
        for line in self.lines:
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def worker_pids(self) -> set[str]:
        """Every worker that has logged ready so far (replacements of dead ones included)."""
        return {
            line.rsplit("pid=", 1)[1].split('"')[0].strip()
            for line in self.lines
            if READY_LINE in line
        }

    def stop(self, timeout_s: float = 60) -> None:
        """Stop the server and read the rest of its log."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout_s)
        if self._pump_thread:
            self._pump_thread.join(timeout=30)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except Exception:  # not listening yet, or not ready: asked again
        return 0
