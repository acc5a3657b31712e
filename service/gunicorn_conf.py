"""gunicorn settings, read from the same FACTCHECK_* Config as the app."""

from typing import Any

from service.config import Config

_config = Config.from_env()

bind = _config.bind
workers = _config.workers
# Each worker loads its own model and index: torch does not survive fork reliably, so no
# preload_app. One thread per worker keeps the model's CPU use predictable on small machines.
worker_class = "sync"
# Ingesting the largest accepted article (embedding ~1000 statements) fits well inside this.
timeout = 120
# 0 = gunicorn's own 1 MiB bound instead of 8 KiB: a GET claim of 2000 non-ASCII characters
# is ~24 KB once percent-encoded, and gunicorn's 414 page would be HTML, not problem+json.
limit_request_line = 0
graceful_timeout = 20
# No runtime control socket: several instances may share a machine, and it is one more
# way in that nobody uses here.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = _config.log_level.lower()
# The worker pid in every access line shows which worker answered (ops, and the
# cross-worker visibility test).
access_log_format = '%(h)s pid=%(p)s "%(r)s" %(s)s %(b)s %(M)sms'


def post_worker_init(worker: Any) -> None:
    """Logged once the worker has loaded the app (model and index): it can answer now."""
    worker.log.info("factcheck worker ready pid=%s", worker.pid)
