"""symphony visit in a real browser: a WebSocket app served through the Conductor."""

from __future__ import annotations

import sys
import time
from typing import Any

from playwright.sync_api import expect

from ..relay.helpers import WSAPP
from .conftest import WAIT_MS, Server, needs_chromium

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_visit_opens_a_websocket_app_with_a_one_time_link(page: Any, server: Server) -> None:
    spec = {
        "name": "vis",
        "processes": [
            {"name": "app", "cmds": [f"exec {sys.executable} {WSAPP} $SYMPH_UI_PORT"],
             "exposes": ["ui"]},
        ],
    }  # fmt: skip
    response = server.api.post("/experiments", json=spec)
    assert response.status_code == 201, response.text
    try:
        deadline = time.monotonic() + 60
        while server.api.get("/x/vis/ui/prefix").status_code != 200:
            assert time.monotonic() < deadline, "the app was not served in 60 s"
            time.sleep(0.2)
        link = server.api.post("/experiments/vis/services/ui/visit").json()
        page.goto(link["url"])
        # The page's script opened its WebSocket (relative to the page) through the relay.
        expect(page.locator("#out")).to_have_text("echo:hello")
        # The address bar shows the service, not the code; the cookie is not for scripts.
        assert page.url == f"{server.url}/x/vis/ui/"
        assert "symphony_visit" not in page.evaluate("document.cookie")
        # The link is spent: another browser with it gets nothing.
        other = page.context.browser.new_context()
        try:
            again = other.new_page().goto(link["url"])
            assert again is not None and again.status == 401
        finally:
            other.close()
    finally:
        server.api.delete("/experiments/vis")
