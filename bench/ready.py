"""Start-to-ready of `factcheck serve` on a built bench corpus, several times: the time from
spawn to the first /readyz 200 (bench.server.Server), the CPU seconds the server's processes
spent to get there (master, which was the CLI before its exec, and workers, from /proc), and
PSS at ready. ``--cold`` first drops the page cache of the store's files, its approximate
index and snapshot, and the ONNX export (posix_fadvise, these files only), as after a reboot.

    python -m bench.ready --size 1m --runs 3 [--cold] [--cache DIR] [--env K=V ...]

The corpus (with its approximate index and snapshot) is built as the headline bench builds it
when the cache does not hold it yet.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench import build
from bench.__main__ import ROOT, size
from bench.server import Server

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def drop_cached(paths: list[Path]) -> int:
    """Evict these files (folders: every file in them) from the page cache; bytes dropped."""
    dropped = 0
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                dropped += path.stat().st_size
            finally:
                os.close(fd)
    return dropped


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ready", description=__doc__)
    p.add_argument("--size", type=size, default=1_000_000, help="statements, e.g. 100k, 1m")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cold", action="store_true", help="drop the corpus' files from the cache")
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("FACTCHECK_BENCH_CACHE", ROOT / "bench" / ".cache")),
    )
    p.add_argument("--env", action="append", default=[], help="K=V for the service")
    args = p.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    corpus = build.build(args.cache, args.size)
    build.ensure_ann(corpus)
    store_file = Path(corpus.store_url.removeprefix("sqlite:///"))
    onnx = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "factcheck" / "onnx"
    for _ in range(args.runs):
        if args.cold:
            drop_cached([p for p in (store_file, Path(f"{store_file}.ann"), onnx) if p.exists()])
        before = _load()
        server = Server(corpus.store_url, args.workers, env).start()
        try:
            assert server.proc is not None
            pids = [server.proc.pid, *server.child_pids()]
            memory = server.memory()
            print(
                json.dumps(
                    {
                        "statements": args.size,
                        "cold": args.cold,
                        "ready_s": round(server.ready_s or 0, 2),
                        "all_ready_s": round(server.all_ready_s or 0, 2),
                        "cpu_s": round(sum(cpu_seconds(pid) for pid in pids), 2),
                        "total_pss_mb": memory["total_pss_mb"],
                        "load_before": before,
                        "load_after": _load(),
                    }
                ),
                flush=True,
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
