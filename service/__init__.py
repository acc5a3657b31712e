"""factcheck: a claim-to-evidence REST service."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from service.config import Config
from service.serving import logs

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["Config", "create_app"]


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app: Config from FACTCHECK_* (a dict overrides single settings), then the
    store, the model and the index, each once, kept on ``app.extensions["factcheck"]``."""
    # Imported here, not with the package: `factcheck serve` imports the package before it
    # execs gunicorn, which imports all of this again.
    from flask import Flask

    from service.api import articles, check, health
    from service.api.auth import init_auth, load_keys
    from service.api.body import init_body_guard
    from service.api.common import JsonProvider, Services, init_path_check
    from service.api.errors import register_error_handlers
    from service.api.headers import init_headers
    from service.api.hosts import init_hosts
    from service.api.ratelimit import init_rate_limits
    from service.core.embed import get_embedder
    from service.core.synced import open_index
    from service.store import StoreUnavailable, open_store
    from service.store.idempotency import open_idempotency_log
    from service.web import metrics, pages

    if not isinstance(config, Config):
        config = Config.from_env(**(config or {}))
    logs.configure(config.log_level, config.log_format)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json = JsonProvider(app)
    app.url_map.strict_slashes = False

    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    loading = time.perf_counter()
    embedder = get_embedder(config)
    metrics.model_loaded(time.perf_counter() - loading)
    index = open_index(config, store, embedder.name, embedder.dimension)
    try:
        index.rebuild()
    except StoreUnavailable:
        # Start anyway: /readyz reports the outage and the first sync after recovery loads all.
        logging.getLogger(__name__).warning("store unreachable at start; index will load later")
    idempotency = open_idempotency_log(store, config.idempotency_lease_s)
    app.extensions["factcheck"] = Services(config, store, embedder, index, idempotency)

    register_error_handlers(app)
    # Order matters: the request id first (every answer carries it, refusals too), then the
    # Host (nothing else runs for a host the server does not serve), then a body over the limit
    # (413 on any route), the key (rate limits count per key), the limits.
    init_headers(app)
    init_hosts(app, config, keyed=bool(load_keys(config)))
    init_path_check(app)
    init_body_guard(app, config.max_request_bytes)
    init_auth(app, config)
    init_rate_limits(app, config)
    for blueprint in (articles.bp, check.bp, health.bp, pages.bp):
        app.register_blueprint(blueprint)
    metrics.init_metrics(app)  # the check page, the docs and /metrics (service/web)
    return app
