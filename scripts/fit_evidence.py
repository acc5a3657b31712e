"""Fit the evidence model (service/core/evidence_model.json) on the dev sets, cross-validated.

    PYTHONPATH=. .venv/bin/python scripts/fit_evidence.py --shared ../shared [--write]

Each dev set (seeds, Climate-FEVER, WiCE; read from --shared, never copied) is segmented and
embedded as ingest does, loaded into a StatementIndex, and every claim's candidates are read
with the features the check computes (service.core.features). That part is cached (--cache,
outside the repo), so refitting takes seconds. Then a logistic regression of "this candidate
is a gold passage" on those features is fitted, each dev set weighing the same, and checked
held out two ways: leave one dev set out, and 5-fold by claim. The decision threshold is the
one the training folds choose (see `choose_threshold`). --write saves the model fitted on all
claims, for the embedding backend FACTCHECK_EMBED_BACKEND names (service.core.evidence.model_path:
evidence_model.json for the float model, evidence_model-int8.json for onnx-int8; give that run
its own --cache, the vectors differ). Needs scikit-learn (the `fit` extra); the service
applies the weights with numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Run as a script, scripts/ is on sys.path.
from evidence_crossval import (
    KEEP,
    SET_WEIGHT_POWER,
    Claim,
    fit,
    held_out,
    k_fold,
    leave_one_set_out,
    measure,
    table,
)

from service.config import Config
from service.core.evidence import CLAIM_PASSAGES, model_path
from service.core.features import (
    DECISION_FEATURES,
    FEATURES,
    Candidates,
    columns,
)
from service.core.index import StatementIndex
from service.core.scoring import CONTEXT_WEIGHT, LEXICAL_WEIGHT
from service.core.segment import segment
from service.documents.files import expand, read_records
from service.evaluation.run import (
    DEV_SETS,
    fold,
    is_answerable,
    is_unrelated,
    key_matches,
    load_claims,
)
from service.types import IndexData

POOL = 50  # the check's candidate pool (search.CANDIDATES) for top_k 10
# The pool the cache is read at: any pool up to it is the subset of these candidates that are
# among the POOL best by cosine or by BM25 (both lists are whole inside the wider union).
WIDE = 100
SETS = DEV_SETS


@dataclass
class Raw:
    """One claim's candidates at the WIDE pool, as cached."""

    dataset: str
    answerable: bool
    unrelated: bool
    gold: int  # gold pairs, for the ideal DCG
    table: Candidates
    y: np.ndarray  # (candidates,) gold or not


def narrowed(raw: Raw, pool: int) -> Claim:
    """The claim as the check sees it with a candidate pool of `pool` (<= WIDE): the cached
    candidates among the `pool` best by cosine or by BM25."""
    t, y = raw.table, raw.y
    if len(t) and pool < WIDE:
        by_cosine = np.argsort(-t.cosine, kind="stable")[:pool]
        by_bm25 = np.argsort(-t.bm25, kind="stable")[:pool]
        order = np.union1d(by_cosine, by_bm25[t.bm25[by_bm25] > 0])
        t, y = t.subset(order), y[order]
    top_bm25 = float(t.bm25.max()) if len(t) else 0.0
    lex = t.bm25 / top_bm25 if top_bm25 > 0 else np.zeros(len(t))
    # The hand-set fusion the fitted ranking replaced (scores.fused), for the comparison.
    fused = (1 - LEXICAL_WEIGHT) * np.maximum(t.cosine, CONTEXT_WEIGHT * t.context)
    fused += LEXICAL_WEIGHT * lex
    cols = columns(t) if len(t) else {}
    return Claim(raw.dataset, raw.answerable, raw.unrelated, raw.gold, cols, y, fused)


def build(shared: Path, name: str, embedder: Any, cache: Path) -> list[Raw]:
    """Candidates and features of every claim of one dev set. Vectors are cached by text
    (cache/<set>-vectors.pkl), so a change of features or segmentation re-embeds little."""
    corpus, claims_file = (shared / part for part in SETS[name])
    records = [r for p in expand([corpus]) for r in read_records(p)]
    vector_file = cache / f"{name}-vectors.pkl"
    known: dict[str, np.ndarray] = (
        pickle.loads(vector_file.read_bytes()) if vector_file.exists() else {}
    )

    def encode(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, embedder().encode(missing), strict=True))
        return np.array([known[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)

    index = StatementIndex(384)
    texts: dict[str, list[str]] = {}
    keys: dict[str, str] = {}
    for number, record in enumerate(records):
        doc = f"doc{number}"
        fields = record.fields
        statements = segment(fields["text"], language=fields.get("language") or "en")
        texts[doc] = [s.text for s in statements]
        keys[doc] = record.key or doc
        vectors = encode(texts[doc]) if texts[doc] else np.zeros((0, 384), dtype=np.float32)
        index.replace(
            doc,
            IndexData(
                texts=texts[doc],
                vectors=vectors,
                source=fields.get("source"),
                published_at=fields.get("published_at"),
                title=fields.get("title"),
            ),
        )
        print(f"\r{name}: {number + 1}/{len(records)} articles", end="", file=sys.stderr)
    print(file=sys.stderr)
    claims = load_claims(claims_file)
    queries = encode([c["claim"] for c in claims])
    vector_file.write_bytes(pickle.dumps(known))
    out = []
    for claim, query in zip(claims, queries, strict=True):
        table = index.candidate_table(query, claim["claim"], WIDE)
        y = np.array(
            [
                any(
                    key_matches(keys[doc], g) and fold(sub) in fold(texts[doc][pos])
                    for g, sub in claim["gold"]
                )
                for doc, pos in table.keys
            ],
            dtype=bool,
        )
        # The fit reads features only: without the candidates' vectors (100 x 384 floats a
        # claim) the cache is a few MB, not ~120.
        table = dataclasses.replace(table, vectors=None)
        out.append(
            Raw(name, is_answerable(claim), is_unrelated(claim), len(claim["gold"]), table, y)
        )
    return out


def load(shared: Path, cache: Path, refresh: bool) -> list[Raw]:
    cache.mkdir(parents=True, exist_ok=True)
    loaded: list[Any] = []

    def embedder() -> Any:
        if not loaded:
            from service.core.embed import get_embedder

            loaded.append(get_embedder(Config.from_env()))
        return loaded[0]

    claims: list[Raw] = []
    for name in SETS:
        path = cache / f"{name}-wide{WIDE}.pkl"
        if path.exists() and not refresh:
            part = pickle.loads(path.read_bytes())
        else:
            part = build(shared, name, embedder, cache)
            path.write_bytes(pickle.dumps(part))
        if part and not hasattr(part[0].table, "window_coverage"):
            raise SystemExit(f"{path} holds other candidate tables: run with --refresh")
        claims.extend(part)
    return claims


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/factcheck/fit")
    parser.add_argument("--refresh", action="store_true", help="recompute the cached features")
    parser.add_argument("--c", type=float, default=0.3, help="inverse L2 strength")
    parser.add_argument("--pool", type=int, default=POOL, help=f"candidate pool (<= {WIDE})")
    backend = Config.from_env().embed_backend
    target = model_path(backend)
    parser.add_argument("--write", action="store_true", help=f"save the model to {target}")
    args = parser.parse_args()
    claims = [narrowed(raw, args.pool) for raw in load(args.shared, args.cache, args.refresh)]
    model = fit(claims, args.c)
    print(table("fitted on every claim (in-sample)", measure(claims, model)))
    print()
    print(table("leave one dev set out", held_out(leave_one_set_out(claims), args.c)))
    print()
    print(table("5-fold by claim", held_out(k_fold(claims), args.c)))
    print()
    saved = {
        "ranking": {
            "features": list(FEATURES),
            "weights": [round(float(v), 6) for v in model.rank_weights],
            "bias": round(model.rank_bias, 6),
        },
        "decision": {
            "features": list(DECISION_FEATURES),
            "weights": [round(float(v), 6) for v in model.decision_weights],
            "bias": round(model.decision_bias, 6),
            # Rounded down: rounded up, the claim at the bar would fall under it.
            "threshold": math.floor(model.threshold * 1e4) / 1e4,
            "claim_passages": CLAIM_PASSAGES,
        },
        "fitted_on": {name: sum(c.dataset == name for c in claims) for name in SETS},
        "backend": backend,
        "c": args.c,
        "keep": KEEP,
        "set_weight_power": SET_WEIGHT_POWER,
    }
    print(json.dumps(saved, indent=2))
    if args.write:
        target.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
