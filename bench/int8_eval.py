"""The int8 model against the float one on the dev sets, claim by claim, with a paired bootstrap.

For each dev set (``factcheck eval --dev-sets`` layout) three configurations answer every claim
through the real app (test client, as ``factcheck eval`` does):

- ``fp32``: corpus ingested and claims checked with ``onnx`` (today's default);
- ``fp32+int8``: the same fp32-ingested store, claims embedded by ``onnx-int8`` (int8 for
  checks only: stored vectors unchanged);
- ``int8``: corpus ingested and claims checked with ``onnx-int8``.

Per claim: nDCG@10, hit@1, MRR@10 (``service.evaluation.run``'s definitions), kept and rejected.
The difference of each metric's mean against ``fp32`` gets a 95% paired bootstrap interval over
claims (10,000 resamples). Also the cosine of each claim's int8 vector to its fp32 vector.

    python -m bench.int8_eval ../shared [--only wice] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.config import Config
from service.core.embed import Embedder
from service.documents.files import expand, read_records
from service.evaluation import run as evaluation

TOP = evaluation.TOP
RESAMPLES = 10_000


def per_claim(claim: dict[str, Any], ranking: list, keys: dict[str, str]) -> dict[str, float]:
    """One claim's figures (answerable claims) or its rejection (``none`` claims)."""
    out: dict[str, float] = {}
    if evaluation.is_unrelated(claim):
        out["rejected"] = float(not ranking)
    if not evaluation.is_answerable(claim):
        return out
    relevant = evaluation.relevance(claim, ranking[:TOP], keys)
    first = next((i for i, r in enumerate(relevant) if r), None)
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(relevant) if r)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(claim["gold"]), TOP)))
    out.update(
        {
            "ndcg@10": dcg / ideal,
            "hit@1": float(first == 0),
            "mrr@10": 1 / (first + 1) if first is not None else 0.0,
            "kept": float(bool(ranking)),
        }
    )
    return out


def run_set(corpus: Path, claims_path: Path) -> dict[str, Any]:
    from service import create_app

    records = [r for p in expand([corpus]) for r in read_records(p)]
    claims = evaluation.load_claims(claims_path)
    texts = [c["claim"] for c in claims]
    answers: dict[str, list[dict[str, float]]] = {}
    timings: dict[str, float] = {}
    int8 = Embedder(backend="onnx-int8", threads=1)
    for ingest_backend in ("onnx", "onnx-int8"):
        with tempfile.TemporaryDirectory(prefix="fc-int8-") as tmp:
            app = create_app(
                Config.from_env(
                    store=f"sqlite:///{tmp}/e.db",
                    embed_backend=ingest_backend,
                    rate_limit_reads="off",  # one in-process client checks faster than 200/s
                    rate_limit_writes="off",
                )
            )
            services = app.extensions["factcheck"]
            client = app.test_client()
            keys: dict[str, str] = {}
            began = time.perf_counter()
            for number, record in enumerate(records):
                fields = {**record.fields, "id": f"doc{number}"}
                response = client.post("/v1/articles", json=fields)
                assert response.status_code in (200, 201), response.get_json()
                keys[fields["id"]] = record.key or fields["id"]
            timings[f"ingest_{ingest_backend}_s"] = round(time.perf_counter() - began, 1)
            check_backends = ["onnx", "onnx-int8"] if ingest_backend == "onnx" else ["onnx-int8"]
            for check_backend in check_backends:
                if check_backend == "onnx-int8":
                    services.embedder = int8  # the app reads it per request
                name = {
                    ("onnx", "onnx"): "fp32",
                    ("onnx", "onnx-int8"): "fp32+int8",
                    ("onnx-int8", "onnx-int8"): "int8",
                }[(ingest_backend, check_backend)]
                began = time.perf_counter()
                rows, refused = [], 0
                for claim in claims:
                    body = {"claim": claim["claim"], "top_k": TOP}
                    response = client.post("/v1/check", json=body)
                    # A claim the API refuses (422: a control character in it) ranks
                    # nothing, in every configuration alike; anything else stops the run.
                    assert response.status_code in (200, 422), response.get_json()
                    refused += response.status_code == 422
                    answer = response.get_json() if response.status_code == 200 else None
                    ranking = evaluation.ranking_of(answer) if answer else []
                    rows.append(per_claim(claim, ranking, keys))
                timings[f"check_{name}_ms"] = round(
                    (time.perf_counter() - began) * 1000 / len(claims), 2
                )
                answers[name] = rows
                timings[f"refused_{name}"] = refused
            services.store.close()
    fp32 = Embedder(backend="onnx", threads=1)
    cosines = np.sum(fp32.encode(texts) * int8.encode(texts), axis=1)
    return {
        "corpus": str(corpus),
        "claims": len(claims),
        "timings": timings,
        "cosine_int8_fp32": {
            "min": round(float(cosines.min()), 4),
            "mean": round(float(cosines.mean()), 4),
        },
        "configs": {name: summarise(rows) for name, rows in answers.items()},
        "paired": {
            name: paired(answers["fp32"], answers[name]) for name in answers if name != "fp32"
        },
    }


def summarise(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in ("ndcg@10", "hit@1", "mrr@10"):
        values = [r[metric] for r in rows if metric in r]
        out[metric] = round(float(np.mean(values)), 4) if values else None
    for count in ("kept", "rejected"):
        values = [r[count] for r in rows if count in r]
        out[count] = f"{int(sum(values))}/{len(values)}"
    return out


def paired(base: list[dict[str, float]], other: list[dict[str, float]]) -> dict[str, Any]:
    """Mean difference (other - base) per metric with its 95% paired bootstrap interval."""
    rng = np.random.default_rng(13)
    out: dict[str, Any] = {}
    for metric in ("ndcg@10", "hit@1", "mrr@10", "kept", "rejected"):
        diff = np.array(
            [o[metric] - b[metric] for b, o in zip(base, other, strict=True) if metric in b]
        )
        if not len(diff):
            continue
        means = rng.choice(diff, size=(RESAMPLES, len(diff))).mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        out[metric] = {
            "diff": round(float(diff.mean()), 4),
            "ci95": [round(float(low), 4), round(float(high), 4)],
            "claims_changed": int(np.count_nonzero(diff)),
            "within_noise": bool(low <= 0 <= high) or bool(low > 0),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", type=Path)
    parser.add_argument("--only", action="append", choices=tuple(evaluation.DEV_SETS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.getLogger("factcheck.access").setLevel(logging.WARNING)
    sets: list[dict[str, Any]] = []
    results = {"loadavg_before": Path("/proc/loadavg").read_text().strip(), "sets": sets}
    for corpus, claims in evaluation.dev_sets(args.shared, args.only):
        result = run_set(corpus, claims)
        sets.append(result)
        print(json.dumps(result, indent=1), flush=True)
    results["loadavg_after"] = Path("/proc/loadavg").read_text().strip()
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
