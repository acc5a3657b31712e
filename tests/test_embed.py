"""Both embedding backends compute the same vectors; the claim cache changes no vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.corpus import articles, claims
from service.core.embed import Embedder

TEXTS = (
    claims(40, seed=9)
    + [s for a in articles(40, seed=9) for s in str(a.fields["text"]).split("\n")]
    + ["", "x", "Ünïcödé and emoji 🙂 " * 40]
)


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch", cache_size=0)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh export folder for the module: the float export is made (and timed) once,
    and the int8 test quantizes that one instead of exporting it again."""
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.slow  # exports the model to ONNX
def test_onnx_agrees_with_torch(export_dir: Path, torch_embedder: Embedder) -> None:
    tmp_path = export_dir
    onnx = Embedder(backend="onnx", onnx_dir=str(tmp_path), cache_size=0)
    assert onnx.backend == "onnx", "the default model must export"
    assert onnx.dimension == torch_embedder.dimension
    a, b = onnx.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert float(((a * b).sum(axis=1)).min()) >= 0.99
    # Encoding one at a time (a check) gives what a batch (ingest) gives.
    single = np.vstack([onnx.encode([t]) for t in TEXTS[:10]])
    assert float(((single * a[:10]).sum(axis=1)).min()) >= 0.9999
    # A second worker finds the export on disk instead of making it again.
    exports = list(tmp_path.glob("*/model.onnx"))
    assert len(exports) == 1
    mtime = exports[0].stat().st_mtime_ns
    Embedder(backend="onnx", onnx_dir=str(tmp_path), cache_size=0)
    assert exports[0].stat().st_mtime_ns == mtime


@pytest.mark.slow  # exports the model to ONNX
def test_int8_model_stays_within_the_agreement_bar(
    export_dir: Path, torch_embedder: Embedder
) -> None:
    tmp_path = export_dir
    int8 = Embedder(backend="onnx-int8", onnx_dir=str(tmp_path), cache_size=0)
    assert int8.backend == "onnx-int8"
    a, b = int8.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    agreement = (a * b).sum(axis=1)
    # The bar the quantization had to pass: every claim and sentence at cosine >= 0.99 to
    # the float model's (the worst measured on the dev claims was 0.992). Degenerate texts
    # ("", "x": no words to average over) move more, and are held to 0.97.
    assert float(agreement[:-3].min()) >= 0.99
    assert float(agreement[-3:].min()) >= 0.97
    [quantized] = tmp_path.glob("*/model-int8-*.onnx")
    assert quantized.stat().st_size < 0.5 * next(tmp_path.glob("*/model.onnx")).stat().st_size


@pytest.mark.slow  # falls back to the torch model
def test_unexportable_dir_falls_back_to_torch(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    embedder = Embedder(backend="onnx", onnx_dir=str(blocker / "sub"), cache_size=0)
    assert embedder.backend == "torch"


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        Embedder(backend="tensorflow")


def test_claim_cache_is_bounded_and_exact(torch_embedder: Embedder) -> None:
    cached = Embedder(backend="torch", cache_size=4)
    first = cached.encode(TEXTS[:3])
    again = cached.encode(TEXTS[:3])
    assert np.array_equal(first, again)
    for text in TEXTS[:10]:
        cached.encode([text])
    assert len(cached._cache) == 4
    assert list(cached._cache) == TEXTS[6:10]  # least recently used went first
    # Mixed hits and misses keep their order.
    mixed = cached.encode([TEXTS[9], TEXTS[0], TEXTS[8]])
    plain = torch_embedder.encode([TEXTS[9], TEXTS[0], TEXTS[8]])
    assert np.allclose(mixed, plain, atol=1e-5)
    # Large (ingest) batches bypass the cache.
    cached.encode(TEXTS[10:40])
    assert list(cached._cache) == [*TEXTS[6:8], TEXTS[9], TEXTS[0], TEXTS[8]][-4:]


@pytest.mark.parametrize(
    ("backend", "preloaded"), [("onnx", True), ("onnx-int8", True), ("torch", False)]
)
def test_onnx_backends_are_preloaded_and_torch_is_not(
    tmp_path: Path, backend: str, preloaded: bool
) -> None:
    """Under gunicorn, ONNX sessions are loaded once in the master and shared by fork;
    torch does not survive a fork, so it loads in each worker."""
    import subprocess
    import sys

    env = {
        "FACTCHECK_EMBED_BACKEND": backend,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import service.serving.gunicorn_conf as g; print(g.preload_app)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == str(preloaded)
