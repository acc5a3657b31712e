"""The live gunicorn server of end-to-end tests: service/serving/live.py (shared with bench/),
which refuses to start in `make test-fast`, so that a test starting one unmarked is caught."""

from __future__ import annotations

import pytest

from service.serving import live
from service.serving.live import READY_LINE, ROOT, free_port

__all__ = ["READY_LINE", "ROOT", "LiveServer", "free_port", "refuse_in_fast_runs"]

# Set by tests/conftest.py when the run leaves out the `slow` tests (make test-fast).
FAST_RUN = False


def refuse_in_fast_runs(what: str) -> None:
    if FAST_RUN:
        pytest.fail(f"{what} in a run without slow tests: mark the test `slow` (pyproject.toml)")


class LiveServer(live.LiveServer):
    def start(self, timeout_s: float = 120) -> LiveServer:
        refuse_in_fast_runs("a live gunicorn was started")
        super().start(timeout_s)
        return self
