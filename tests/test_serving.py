"""The server process itself: a stop is clean and quick, the open-writes refusal holds for the
address gunicorn really binds, and a text log line cannot be forged from a request path."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from service.serving.logs import TextFormatter, log_request
from tests.auth import AUTH_ENV
from tests.live import ROOT, LiveServer, free_port

CRASH = re.compile(r"terminate called|std::system_error|SIGABRT|SIGKILL|Aborted|code 134")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_sigterm_stops_every_worker_cleanly_within_seconds(tmp_path: Path, backend: str) -> None:
    env = {
        "FACTCHECK_STORE": f"sqlite:///{tmp_path / 'factcheck.db'}",
        "FACTCHECK_EMBED_BACKEND": backend,
        **AUTH_ENV,
    }
    server = LiveServer(env, workers=2).start()
    try:
        # Run the model in every worker's threads first: a stop must be clean after real use.
        for _ in range(4):
            answer = requests.post(f"{server.url}/v1/check", json={"claim": "ferry"}, timeout=30)
            assert answer.status_code == 200
        assert server.proc is not None
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        status = server.proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        server.stop()
    log = server.log()
    assert status == 0, log[-2000:]
    assert took < 3.0, f"stop took {took:.1f} s"
    assert not CRASH.search(log), log[-2000:]
    assert log.count("Worker exiting") == 2


def test_a_bind_from_gunicorn_cmd_args_gets_the_open_writes_refusal(tmp_path: Path) -> None:
    """127.0.0.2 is refused by `--bind` (it is not one of the loopback names); gunicorn's
    own GUNICORN_CMD_ARGS, applied after our config, must not get past that."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FACTCHECK_API_KEYS", "FACTCHECK_BIND", "GUNI"))
    }
    env.update(
        FACTCHECK_STORE=f"sqlite:///{tmp_path / 'factcheck.db'}",
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.2:{free_port()}",
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        pytest.fail("the server started on 127.0.0.2 with writes open:\n" + out[-2000:])
    assert proc.returncode == 2, out[-2000:]
    assert "refusing to listen on 127.0.0.2" in out
    assert "Booting worker" not in out


@pytest.mark.parametrize(
    "path",
    [
        "/v1/x\n2026-12-01 09:00:00,000 INFO factcheck.access pid=1 GET /forged 200 1ms",
        "/v1/x\r\nforged",
        "/v1/x\u2028forged",
        "/v1/x\x1b[2Jforged",
    ],
)
def test_a_request_path_cannot_forge_a_text_log_line(path: str) -> None:
    logger = logging.getLogger("factcheck.test_serving")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_request(logger, time.perf_counter(), 404, method="GET", path=path)
    finally:
        logger.removeHandler(handler)
    line = TextFormatter().format(records[0])
    assert line.splitlines() == [line]
    assert "\x1b" not in line and "\u2028" not in line
    assert "forged" in line  # kept, escaped: the operator sees what was asked for
