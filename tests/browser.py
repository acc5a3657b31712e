"""Headless Debian chromium driven by playwright, for the tests of the check page and docs.

Playwright cannot download its own browsers here; it drives the system's chromium
(`apt-get install chromium`, which .ci/run does). Without it the browser tests skip on a
developer's machine and fail in CI (CI=true), so that CI never passes them unrun."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.live import refuse_in_fast_runs

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium_path() -> str:
    refuse_in_fast_runs("a browser was started")
    if not Path(CHROMIUM).exists():
        message = "chromium is not installed: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path())
        yield launched
        launched.close()


def artifact(name: str) -> Path:
    """Where a test keeps a file for people to look at (screenshots); gitignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
