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


def serve_wsapp(server: Server, name: str) -> None:
    """Launch experiment ``name``: the test WebSocket app exposed as ``ui``, and wait (up
    to 60 s) until the Conductor serves it under /x/NAME/ui/."""
    spec = {
        "name": name,
        "processes": [
            {"name": "app", "cmds": [f"exec {sys.executable} {WSAPP} $SYMPH_UI_PORT"],
             "exposes": ["ui"]},
        ],
    }  # fmt: skip
    response = server.api.post("/experiments", json=spec)
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 60
    while server.api.get(f"/x/{name}/ui/prefix").status_code != 200:
        assert time.monotonic() < deadline, "the app was not served in 60 s"
        time.sleep(0.2)


def test_ui_visit_opens_a_websocket_app_with_a_one_time_link(page: Any, server: Server) -> None:
    try:
        serve_wsapp(server, "vis")
        link = server.api.post("/experiments/vis/services/ui/visit").json()
        page.goto(link["url"])
        # The page's script opened its WebSocket (relative to the page) through the relay.
        expect(page.locator("#out")).to_have_text("echo:hello")
        # The address bar shows the service, not the code; the cookie is not for scripts.
        # On the relay port: an origin apart from the web UI's.
        assert page.url == link["url"].split("?")[0] and not page.url.startswith(server.url)
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


def test_ui_visited_app_cannot_put_a_service_worker_over_the_web_ui(
    page: Any, server: Server
) -> None:
    # An app reached through the Conductor shares the web UI's origin. Once, the
    # Conductor passed on its Service-Worker-Allowed header, so its page could register
    # a worker for "/" that then answered for /ui/js/app.js in every later UI tab: any
    # script, run as the UI, with the token. A worker now stays within the app's path.
    try:
        serve_wsapp(server, "sw")
        link = server.api.post("/experiments/sw/services/ui/visit").json()
        page.goto(link["url"].replace("/x/sw/ui/", "/x/sw/ui/worker", 1))
        expect(page).not_to_have_title("waiting")
        assert page.title() == "refused"
        assert "service-worker-allowed" not in server.api.get("/x/sw/ui/worker.js").headers
    finally:
        server.api.delete("/experiments/sw")


def test_ui_visited_app_cannot_read_the_web_ui_token(page: Any, server: Server) -> None:
    # A service's page runs its deployer's script. Opened in the tab where the web UI is
    # logged in, it must not find the UI's token: services have an origin of their own.
    try:
        serve_wsapp(server, "st")
        page.goto(server.ui())
        page.evaluate("token => sessionStorage.setItem('symphony.token', token)", server.token)
        link = server.api.post("/experiments/st/services/ui/visit").json()
        assert not link["url"].startswith(server.url + "/")  # not the UI's origin
        page.goto(link["url"].replace("/x/st/ui/?", f"/x/st/ui/steal?ui={server.ui('/')}&", 1))
        expect(page).not_to_have_title("waiting")
        assert page.title() == "nothing"
    finally:
        server.api.delete("/experiments/st")
