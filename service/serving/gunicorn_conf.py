"""gunicorn settings, read from the same FACTCHECK_* Config as the app."""

import gc
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from typing import Any

from service.config import Config

_config = Config.from_env()

bind = _config.bind
workers = _config.workers
# numpy's BLAS (the dense scan) would start one thread per core in every worker; with one
# worker per core they only contend (a 100k scan: 16 ms with 2 threads, 12 ms with 1). Set
# before any worker imports numpy; an explicit environment setting wins.
if _config.threads > 0:
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, str(_config.threads))
# With the ONNX backend the app (model, index) is loaded once in the master and forked: the
# workers share those pages copy-on-write (memory), and the index is rebuilt once instead of
# once per worker on the same cores (start-up time). torch does not survive fork reliably, so
# the torch backend keeps one load per worker.
preload_app = _config.embed_backend in ("onnx", "onnx-int8")
# Threads per worker (service/serving/worker.py: gunicorn's gthread worker plus a read deadline per
# request and problem+json refusals): a client that sends slowly holds one thread, never the
# process, and callers get HTTP keep-alive. The model still runs one claim at a time per
# worker (service/core/embed.py), on FACTCHECK_THREADS threads.
worker_class = "service.serving.worker.Worker"
threads = max(_config.worker_threads, 1)
keepalive = 5
# Ingesting the largest accepted article (embedding ~1000 statements) fits well inside this.
timeout = 120
# A stand-in only: gunicorn caps this setting at 8190 (0 = unlimited). The worker sets the
# real bound (service.serving.worker.request_line_limit: a GET check of the longest claim fits).
limit_request_line = 8190
graceful_timeout = 20
# No runtime control socket: several instances may share a machine, and it is one more
# way in that nobody uses here.
control_socket_disable = True
# The app logs every request itself (service/serving/logs.py: JSON with the request id and the
# worker's pid, and never the query string, which carries a GET check's claim); gunicorn's
# own access line would repeat it with the claim in it.
accesslog = None
errorlog = "-"
loglevel = _config.log_level.lower()
# gunicorn's own messages (start, workers, timeouts) in the app's format, on stderr.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"app": {"()": "service.serving.logs.formatter", "kind": _config.log_format}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": loglevel.upper(), "handlers": []},  # the app adds its own (logs.py)
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Refuse open writes on the addresses gunicorn will really listen on: GUNICORN_CMD_ARGS
    (or a config of its own) can override the bind that `factcheck serve` checked."""
    from service.api.auth import load_keys, open_writes_refusal

    keys = load_keys(_config)
    for address in server.cfg.bind:
        refusal = open_writes_refusal(replace(_config, bind=address), keys)
        if refusal and not _config.allow_open_writes:
            print(f"factcheck serve: {refusal}", file=sys.stderr, flush=True)
            on_exit(server)
            sys.exit(2)


def when_ready(server: Any) -> None:
    """Before workers are forked: move the preloaded app's objects out of the collector's
    reach, so that collections in a worker do not write to (and so copy) shared pages."""
    if preload_app:
        gc.freeze()


def post_worker_init(worker: Any) -> None:
    """Logged once the worker has loaded the app (model and index): it can answer now.
    From here its log lines are written by a thread of the worker's own (logs.queue_writes:
    started after the fork, which no thread survives; flushed in worker_exit)."""
    from service.serving import logs

    logs.queue_writes()
    worker.log.info("factcheck worker ready pid=%s", worker.pid)


# --- metrics across workers (service/web/metrics.py) ---------------------------------------
# Each worker writes its counters to files in this directory and a scrape sums them all. A
# fresh directory per server, so that no count survives from an earlier run; one an operator
# set is kept as given (and is theirs to empty between runs, as prometheus_client requires).
# Set here, in the master, before any worker imports prometheus_client.
_OWN_METRICS_DIR: str | None = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _OWN_METRICS_DIR = tempfile.mkdtemp(prefix="factcheck-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _OWN_METRICS_DIR


def worker_exit(server: Any, worker: Any) -> None:
    """The last thing a worker does, after gunicorn's own cleanup: leave with os._exit, past
    the C library's exit handlers. ONNX Runtime's, run in a worker forked after the master
    loaded the model, wait on a condition variable whose other users were threads of the
    master (gdb: pthread_cond_destroy in __run_exit_handlers): the worker hung for the whole
    graceful timeout or aborted with std::system_error. The log queue is written out first:
    os._exit leaves no thread time to finish."""
    if worker.pid != os.getpid():  # also called in the master, for a worker already gone
        return
    exiting = sys.exc_info()[1]
    code = exiting.code if isinstance(exiting, SystemExit) else 0
    status = code if isinstance(code, int) else (0 if code is None else 1)
    from service.serving import logs

    logs.flush_queue()  # every queued request line written before the exit
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def child_exit(server: Any, worker: Any) -> None:
    """A worker died or was replaced: its live gauges stop counting (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
