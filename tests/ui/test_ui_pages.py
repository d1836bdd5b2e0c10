"""What the pages show and where they lead, as an operator finds them: a command with
its arguments told apart, an address typed by hand, a filter kept in the address."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_deployment_page_shows_the_command_with_its_arguments_apart(
    page: Any, server: Server
) -> None:
    # Once, the arguments were joined with spaces: ["sh", "-c", "echo a b; sleep 1000"]
    # read "sh -c echo a b; sleep 1000", as if sh ran "echo" alone.
    command = ["sh", "-c", "echo 'a b'; sleep 1000", "ünï ✓"]
    deploy(server, "quoted", config={"command": command})
    try:
        login(page, server, "#/d/quoted")
        shown = "sh -c 'echo '\\''a b'\\''; sleep 1000' 'ünï ✓'"
        expect(page.locator("#command code")).to_have_text(shown)
        expect(page.locator("table.versions td.mono")).to_have_text(shown)
        # What the page shows is what the form would split back into the same list.
        split = page.evaluate(
            "async (text) => (await import('/ui/js/shell.js')).splitCommand(text)", shown
        )
        assert split == command
    finally:
        remove(server, "quoted")


def test_ui_address_typed_by_hand_with_a_stray_percent_says_not_found(
    page: Any, server: Server
) -> None:
    # Once, "#/d/50%off" threw "URI malformed" and left the page blank.
    login(page, server, "#/d/50%off")
    expect(page.locator("main")).to_contain_text("No deployment named 50%off.")

