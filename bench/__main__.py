"""`python -m bench` (or `make bench`): build corpora, serve them under gunicorn, load them,
time the baselines on the same claims, and write the results (see docs/benchmarks.md).

The servers run with the rate limits off (bench/server.py; `--env` can set them back), and
any answer but a 2xx is an error in the tables, never throughput (bench/load.py)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bench import ann, baselines, build, ingest, load, report, txtai_peer
from bench.corpus import articles
from bench.corpus import claims as make_claims
from bench.server import Server

ROOT = Path(__file__).resolve().parent.parent


def size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--sizes", default="10k,100k", help="statements per corpus, e.g. 10k,100k,1m")
    p.add_argument("--duration", type=float, default=10, help="seconds of load per concurrency")
    p.add_argument("--concurrency", default="1,8", help="client concurrencies to run")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--ingest-statements", type=int, default=600, help="0 skips the ingest run")
    p.add_argument("--claims", type=int, default=5000, help="distinct claims sent in order")
    p.add_argument("--baseline-claims", type=int, default=300, help="claims the baselines time")
    p.add_argument("--no-baselines", action="store_true", help="no baselines, no peers")
    p.add_argument("--no-txtai", action="store_true", help="leave the txtai peer out")
    p.add_argument(
        "--txtai-max-statements",
        type=int,
        default=100_000,
        help="corpora larger than this run without the txtai peer (its BM25 build is slow)",
    )
    p.add_argument(
        "--txtai-ingest-statements",
        type=int,
        default=2000,
        help="statements txtai indexes with its own model, beside bare encode (0 skips)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("FACTCHECK_BENCH_CACHE", ROOT / "bench" / ".cache")),
        help="built corpora (reused)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--plot", type=Path, default=None, help="PNG path (default: none)")
    p.add_argument(
        "--service-root",
        type=Path,
        default=ROOT,
        help="checkout whose service is served (e.g. a worktree of an older commit)",
    )
    p.add_argument("--label", default="", help="free text saved with the results")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="extra environment for the service (e.g. FACTCHECK_...)",
    )
    return p.parse_args(argv)


def machine(root: Path = ROOT) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "service"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "commit": commit + ("+dirty" if dirty else ""),
        "load_before": _load(),
    }


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_size(args: argparse.Namespace, n: int, claims: list[str], env: dict[str, str]) -> dict:
    corpus = build.build(args.cache, n)
    result: dict[str, Any] = {"statements": n, "build_s": round(corpus.build_s, 1)}
    if env.get("FACTCHECK_ANN") != "off":
        result["ann"] = build.ensure_ann(corpus)
    server = Server(corpus.store_url, args.workers, env, args.service_root).start()
    try:
        result["ready_s"], result["all_ready_s"] = server.ready_s, server.all_ready_s
        result["memory_ready"] = server.memory()
        result["load"] = []
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        offset = 0
        for c in concurrencies:
            probe: dict[str, Any] = {}
            prober = None
            if c == max(concurrencies):  # the visibility bound is checked under the most load
                prober = threading.Timer(
                    args.duration / 3,
                    lambda probe=probe: probe.update(ingest.visibility(server.url, args.workers)),
                )
                prober.start()
            # Each concurrency gets claims the others did not send (no repeats unless exhausted).
            rotated = claims[offset:] + claims[:offset]
            outcome = load.run(server.url, rotated, c, args.duration)
            offset = (offset + len(outcome.latencies_ms) + outcome.errors) % len(claims)
            if prober:
                prober.join()
                result["visibility"] = probe
            result["load"].append(outcome.summary())
            print(f"  {n:,} c={c}: {outcome.summary()}")
        result["memory_after"] = server.memory()
    finally:
        server.stop()
        if any(run["errors"] for run in result.get("load", [])):
            # An error answer is a bug to read, not a figure: keep the server's own log.
            Path(args.out).mkdir(parents=True, exist_ok=True)
            saved = Path(args.out) / f"server-{n}.log"
            saved.write_text(server.log())
            print(f"  {n:,}: errors during the load; the server's log is in {saved}")
    if result.get("ann", {}).get("ann_built") or result.get("ann", {}).get("ann_saved"):
        result["ann"].update(ann.recall(corpus.store_url, claims[: args.baseline_claims]))
        print(f"  {n:,} approximate index: {result['ann']}")
    result["baselines"] = {}
    if not args.no_baselines:
        sample = claims[: args.baseline_claims]
        result["baselines"]["sentence_transformers"] = baselines.sentence_transformers(
            corpus.vectors_path, sample
        )
        result["baselines"]["bm25s"] = baselines.bm25s_search(corpus.texts_path, sample)
        print(f"  {n:,} baselines: {result['baselines']}")
        skip = txtai_skipped(args, n)
        if skip:
            result["txtai_skipped"] = skip
            print(f"  {n:,} txtai: skipped ({skip})")
        else:
            result["txtai"] = txtai_peer.run(
                corpus.texts_path.read_text().splitlines(),
                np.load(corpus.vectors_path),
                claims,
                args.baseline_claims,
                [int(c) for c in args.concurrency.split(",")],
                args.duration,
                args.workers,
            )
    return result


def txtai_skipped(args: argparse.Namespace, n: int | None = None) -> str:
    """Why the txtai peer does not run (empty when it does)."""
    if args.no_txtai:
        return "--no-txtai"
    if importlib.util.find_spec("txtai") is None:
        return "txtai is not installed (it is in the bench extra: pip install -e '.[bench]')"
    if n is not None and n > args.txtai_max_statements:
        return f"{n:,} statements > --txtai-max-statements {args.txtai_max_statements:,}"
    return ""


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    env = dict(item.split("=", 1) for item in args.env)
    results: dict[str, Any] = {
        "machine": machine(args.service_root),
        "label": args.label,
        "args": {k: str(v) for k, v in vars(args).items()},
        "env": env,
        "runs": [],
    }
    claims = make_claims(args.claims)
    if args.ingest_statements:
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(
                f"sqlite:///{tmp}/ingest.db", args.workers, env, args.service_root
            ).start()
            try:
                results["ingest"] = ingest.ingest(server.url, args.ingest_statements)
                results["ingest"]["ready_empty_s"] = server.ready_s
            finally:
                server.stop()
        print(f"  ingest: {results['ingest']}")
    if args.txtai_ingest_statements and not args.no_baselines and not txtai_skipped(args):
        texts = [
            line
            for a in articles(args.txtai_ingest_statements, seed=11)
            for line in str(a.fields["text"]).split("\n")
        ]
        results["txtai_ingest"] = txtai_peer.ingest(texts)
        print(f"  txtai ingest: {results['txtai_ingest']}")
    for n in (size(s) for s in args.sizes.split(",")):
        results["runs"].append(run_size(args, n, claims, env))
    results["machine"]["load_after"] = _load()
    print(report.save(results, args.out, args.plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
