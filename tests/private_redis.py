"""A private redis-server per test (never the shared one on 6379): one we may kill, pause,
restart on the same port, protect with a password or serve over TLS."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from tests.live import free_port


def require_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server (.ci/run)")
    return path


def wait_until(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll predicate() until it returns something truthy; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # polled again until the deadline
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last_error!r})")


class PrivateRedis:
    """redis-server in the foreground of a child process, on a fixed port and data dir."""

    def __init__(
        self,
        workdir: Path,
        *args: str,
        password: str | None = None,
        tls: dict[str, Path] | None = None,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.args = args
        self.password = password
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls['ca']}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        cmd = [require_redis_server(), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        cmd += ["--save", "", "--logfile", str(self.dir / "redis.log")]
        if self.tls:
            cmd += ["--port", "0", "--tls-port", str(self.port)]
            cmd += ["--tls-cert-file", str(self.tls["cert"])]
            cmd += ["--tls-key-file", str(self.tls["key"])]
            cmd += ["--tls-ca-cert-file", str(self.tls["ca"]), "--tls-auth-clients", "no"]
        else:
            cmd += ["--port", str(self.port)]
        if self.password:
            cmd += ["--requirepass", self.password]
        return [*cmd, *self.args]

    def start(self, timeout_s: float = 30) -> PrivateRedis:
        """Start (or restart, same port and dir) and return once it answers PING."""
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL)
        wait_until(self.ping, timeout_s, f"redis-server on port {self.port}:\n{self.log()}")
        return self

    def ping(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{self.log()}")
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def send(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self, sig: int = signal.SIGKILL, timeout_s: float = 30) -> None:
        """Send sig and wait until the process is gone."""
        self.send(sig)
        assert self.proc is not None
        self.proc.wait(timeout=timeout_s)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
