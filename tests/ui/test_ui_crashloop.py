"""What an operator sees of a job in a crash loop: its instance exits non-zero, waits
out its restart backoff, runs again and exits again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

#: It says why on stderr, as a crashing program does, and exits 3.
CRASH = "echo 'loading the config'; echo 'Traceback: bad config' >&2; exit 3"
#: Long enough that the instance is still waiting when the page looks.
BACKOFF = {"type": "on-failure", "backoff_seconds": 120}


def test_ui_a_crash_loop_shows_as_crashing_with_its_exit_and_restarts(
    page: Any, server: Server
) -> None:
    # Once, a deployment whose only replica crashed and waited to restart, again and
    # again, showed "starting": nothing on the list told it from a slow start.
    deploy(server, "crashy", config={"command": ["sh", "-c", CRASH]}, restart_policy=BACKOFF)
    try:
        server.wait(lambda: server.api.get("/deployments/crashy").json()["state"] == "crashing")
        login(page, server, "#/deployments")
        row = page.locator("[data-deployment=crashy]")
        expect(row.locator(".pill")).to_have_text("crashing")
        expect(row.locator(".reason")).to_contain_text(
            "exited with code 3, 1 restart; runs again at"
        )
        expect(row.locator("td[data-label='Last exit']")).to_have_text("3")
        page.select_option("#filter-state", "crashing")
        expect(page.locator("table.deployments tbody tr")).to_have_count(1)
        page.click("text=crashy")
        expect(page.locator("h1 .pill")).to_have_text("crashing")
        expect(page.locator("#crash-loop")).to_contain_text("exited with code 3")
    finally:
        remove(server, "crashy")
