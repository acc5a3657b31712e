"""The real service under gunicorn on a loopback port, with start-to-ready timing and the
memory of every worker (RSS, and PSS from /proc/PID/smaps_rollup, which splits shared pages
fairly between the processes that map them).

Every bench server runs with the rate limits off (FACTCHECK_RATE_LIMIT_READS=off and
FACTCHECK_RATE_LIMIT_WRITES=off) unless the caller's env sets them: a bench sends from one
client address, and the default 200 reads/s a client would cap a c=8 loop with 429s, which
measures the limiter, not the service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.serving.live import ROOT, LiveServer

# What every bench server runs with unless the caller's env says otherwise (the docstring).
BENCH_ENV = {"FACTCHECK_RATE_LIMIT_READS": "off", "FACTCHECK_RATE_LIMIT_WRITES": "off"}


class Server(LiveServer):
    """`factcheck serve` on a corpus's store, timed to its first /readyz 200 (`ready_s`) and
    to every worker's ready line (`all_ready_s`); the pid is gunicorn's master."""

    def __init__(
        self,
        store_url: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        root: Path = ROOT,
    ):
        env = {"FACTCHECK_STORE": store_url, "HF_HUB_OFFLINE": "1", **BENCH_ENV, **(env or {})}
        super().__init__(env, workers, root=root, time_readyz=True)

    def start(self, timeout_s: float = 300) -> Server:
        super().start(timeout_s)
        return self

    def child_pids(self) -> list[int]:
        """The worker processes alive now (gunicorn's children)."""
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def memory(self) -> dict[str, Any]:
        """MB per worker (RSS, PSS) and the master's, plus totals."""
        assert self.proc is not None
        workers = [memory_of(pid) for pid in self.child_pids()]
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

    def __enter__(self) -> Server:
        return self.start()


def memory_of(pid: int) -> dict[str, Any]:
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return {"pid": pid, "rss_mb": round(fields["Rss"], 1), "pss_mb": round(fields["Pss"], 1)}
