"""The real service under gunicorn on a loopback port, with start-to-ready timing and the
memory of every worker (RSS, and PSS from /proc/PID/smaps_rollup, which splits shared pages
fairly between the processes that map them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "factcheck worker ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`factcheck serve` (gunicorn) as a child process; the pid is gunicorn's master."""

    def __init__(
        self,
        store_url: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        root: Path = ROOT,
    ):
        self.root = root  # the checkout whose service runs (another commit, for a before/after)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "FACTCHECK_STORE": store_url,
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            **(env or {}),
        }
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fcbench-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None  # start -> first /readyz 200
        self.all_ready_s: float | None = None  # start -> every worker has logged ready

    def start(self, timeout_s: float = 300) -> Server:
        log = self.log_path.open("wb")
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
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            return self._wait_ready(started, timeout_s)
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def _wait_ready(self, started: float, timeout_s: float) -> Server:
        assert self.proc is not None
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during start:\n" + self.log_path.read_text())
            if self.ready_s is None and _status(self.url + "/readyz") == 200:
                self.ready_s = time.perf_counter() - started
            if self.log_path.read_text(errors="replace").count(READY_LINE) >= self.workers:
                self.all_ready_s = time.perf_counter() - started
                if self.ready_s is not None:
                    return self
            time.sleep(0.02)
        raise TimeoutError("server not ready:\n" + self.log_path.read_text())

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def memory(self) -> dict[str, Any]:
        """MB per worker (RSS, PSS) and the master's, plus totals."""
        assert self.proc is not None
        workers = [memory_of(pid) for pid in self.worker_pids()]
        return {
            "workers": workers,
            "master": memory_of(self.proc.pid),
            "workers_rss_mb": round(sum(w["rss_mb"] for w in workers), 1),
            "workers_pss_mb": round(sum(w["pss_mb"] for w in workers), 1),
            # With preload_app the master holds the shared pages too: PSS of master + workers
            # is what the service as a whole occupies.
            "total_pss_mb": round(
                sum(w["pss_mb"] for w in workers) + memory_of(self.proc.pid)["pss_mb"], 1
            ),
        }

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def memory_of(pid: int) -> dict[str, Any]:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return {"pid": pid, "rss_mb": round(fields["Rss"], 1), "pss_mb": round(fields["Pss"], 1)}


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except Exception:
        return 0
