"""The live server of the end-to-end tests and the bench takes a free port, and another
process can take that port before gunicorn binds it (pytest-xdist workers pick ports at once):
the server then starts on another port instead of failing the test that asked for it."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow


def test_a_port_taken_before_the_server_binds_it_is_given_up(tmp_path: Path) -> None:
    server = LiveServer({"FACTCHECK_STORE": f"sqlite:///{tmp_path / 'x.db'}"}, workers=1)
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.port != taken
            assert "Address already in use" not in server.log()  # the new start's own log
            with urllib.request.urlopen(server.url + "/healthz", timeout=10) as answer:
                assert answer.status == 200
