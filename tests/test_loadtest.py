"""scripts/loadtest.py (make load) stays runnable: a small bounded run on SQLite ends by itself
with 0 errors and 0 lost articles (the full run and its numbers: docs/reliability.md)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.slow


def test_small_load_run_has_no_errors_and_loses_nothing(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("loadtest", ROOT / "scripts" / "loadtest.py")
    assert spec is not None and spec.loader is not None
    loadtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loadtest)
    out = tmp_path / "load.json"
    args = ["--requests", "80", "--threads", "4", "--ingest-ratio", "0.3", "--max-seconds", "120"]
    assert loadtest.main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["requests"] == 80
    assert result["errors"] == 0 and result["lost_articles"] == 0
    assert result["acknowledged_articles"] > 0
