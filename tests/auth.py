"""One API key for every test that writes through a live server.

Servers started by these tests get FACTCHECK_API_KEYS (ignored while the service has no auth)
and every request sends the matching header, so the tests hold once writes need a key."""

from __future__ import annotations

API_KEY = "test-key"
AUTH_ENV = {"FACTCHECK_API_KEYS": API_KEY}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
