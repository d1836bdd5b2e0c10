"""What an operator sees of a job in a crash loop: its instance exits non-zero, waits
out its restart backoff, runs again and exits again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium, screenshot
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


def test_ui_logs_of_an_instance_waiting_to_restart_show_why_its_last_run_ended(
    page: Any, server: Server
) -> None:
    # Once, the log of an instance waiting out its backoff was an empty "following"
    # view: the crash said why on stderr and the viewer showed stdout, with nothing to
    # say that the instance waited, or until when.
    deploy(server, "crash-logs", config={"command": ["sh", "-c", CRASH]}, restart_policy=BACKOFF)
    try:
        server.wait(lambda: server.api.get("/deployments/crash-logs").json()["state"] == "crashing")
        login(page, server, "#/d/crash-logs")
        waiting = page.locator("#log-waiting")
        expect(waiting).to_contain_text("waits to restart at")
        expect(waiting).to_contain_text("its last run exited with code 3")
        expect(page.locator("#last-run-stderr")).to_have_text("Traceback: bad config\n")
        expect(page.locator("#log-output")).to_have_text("loading the config\n")
        screenshot(page, "ui-crash-loop")
        # On stderr, the view itself shows the last run's: the note stays, not a copy.
        page.select_option("#log-stream", "stderr")
        expect(page.locator("#log-output")).to_have_text("Traceback: bad config\n")
        expect(page.locator("#last-run-stderr")).to_be_hidden()
        expect(waiting).to_be_visible()
    finally:
        remove(server, "crash-logs")


def test_ui_logs_of_a_running_instance_say_nothing_of_restarts(page: Any, server: Server) -> None:
    deploy(server, "steady")
    try:
        login(page, server, "#/d/steady")
        expect(page.locator("#log-output")).to_contain_text("tick 1")
        expect(page.locator("#log-waiting")).to_be_hidden()
    finally:
        remove(server, "steady")
