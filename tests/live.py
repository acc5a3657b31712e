"""A real gunicorn server of the service on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "factcheck worker ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`factcheck serve` in a child process; start() returns when every worker has loaded."""

    def __init__(self, env: dict[str, str], workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 120) -> LiveServer:
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
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        ready = 0
        while ready < self.workers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("workers not ready:\n" + self.log())
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty as exc:
                raise TimeoutError("workers not ready:\n" + self.log()) from exc
            if line is None:
                raise RuntimeError("server exited during start:\n" + self.log())
            ready += READY_LINE in line

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

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
        return {
            line.rsplit("pid=", 1)[1].split('"')[0].strip()
            for line in self.lines
            if READY_LINE in line
        }

    def stop(self) -> None:
        """Stop the server and read the rest of its log."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc:
            self._pump_thread.join(timeout=30)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
