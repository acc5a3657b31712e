"""factcheck: a claim-to-evidence REST service."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from service.config import Config

__all__ = ["Config", "create_app"]


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app: Config from FACTCHECK_* (a dict overrides single settings), then the
    store, the model and the index, each once, kept on ``app.extensions["factcheck"]``."""
    from service.api import articles, check, health
    from service.api.common import Services
    from service.api.errors import register_error_handlers
    from service.core.embed import get_embedder
    from service.core.index import SyncedIndex
    from service.store import StoreUnavailable, open_store

    if not isinstance(config, Config):
        config = Config.from_env(**(config or {}))
    logging.basicConfig(level=config.log_level)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False

    store = open_store(config.store, config.redis_prefix, config.redis_timeout_s)
    embedder = get_embedder(config.model, config.embed_batch_size)
    index = SyncedIndex(store, embedder.dimension)
    try:
        index.rebuild()
    except StoreUnavailable:
        # Start anyway: /readyz reports the outage and the first sync after recovery loads all.
        logging.getLogger(__name__).warning("store unreachable at start; index will load later")
    app.extensions["factcheck"] = Services(config, store, embedder, index)

    register_error_handlers(app)
    for blueprint in (articles.bp, check.bp, health.bp):
        app.register_blueprint(blueprint)
    return app
