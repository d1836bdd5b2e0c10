"""The web UI's experiments pages, in a real browser against a real ``symphony up``."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import login

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

SLEEP = ["sh", "-c", "sleep 300"]


def test_ui_experiments_list_and_page_show_processes_by_group(page: Any, server: Server) -> None:
    spec = {
        "name": "ui-rl",
        "processes": [{"name": "learner", "command": SLEEP, "binds": {"board": 26100}}],
        "process_groups": [
            {
                "name": "agents",
                "processes": [
                    {"name": "agent-0", "command": SLEEP, "connects": "board"},
                    {"name": "agent-1", "command": SLEEP, "connects": "board"},
                ],
            }
        ],
    }
    response = server.api.post("/experiments", json=spec)
    assert response.status_code == 201, response.text
    try:
        login(page, server, "#/experiments")
        row = page.locator('tr[data-experiment="ui-rl"]')
        expect(row.locator(".pill")).to_have_text("running")
        expect(row).to_contain_text("3/3")
        row.locator("a").click()
        expect(page.locator("h1 .pill")).to_have_text("running")
        # Only what would change something is offered (once, both were, always).
        expect(page.locator("#exp-stop")).to_be_enabled()
        expect(page.locator("#exp-start")).to_be_disabled()
        group = page.locator('section[data-group="agents"]')
        expect(group.locator("tr[data-process]")).to_have_count(2)
        learner = page.locator('tr[data-process="learner"]')
        expect(learner.locator(".ports")).to_have_text("board 26100")
        expect(learner).to_contain_text("ui-node")
        page.locator("#exp-stop").click()
        expect(page.locator("h1 .pill")).to_have_text("stopped")
        expect(page.locator("#exp-stop")).to_be_disabled()
        expect(page.locator("#exp-start")).to_be_enabled()
        learner.locator("a").click()  # the process's own page: its logs
        expect(page.locator("h1")).to_contain_text("ui-rl.learner")
        page.goto(server.ui("#/x/ui-rl"))
        page.locator("#exp-delete").click()
        page.locator(".dialog .btn.danger").click()
        expect(page).to_have_url(server.ui("#/experiments"))
        expect(page.locator('tr[data-experiment="ui-rl"]')).to_have_count(0)
    finally:
        server.api.delete("/experiments/ui-rl")


def test_ui_missing_experiment_offers_no_actions_and_a_way_back(page: Any, server: Server) -> None:
    # Once, the page of an experiment that does not exist offered Stop, Start and
    # Delete (each then failing with a 404), and no page led back to the list.
    login(page, server, "#/x/no-such-experiment")
    expect(page.locator("main")).to_contain_text("No experiment no-such-experiment.")
    for button in ("#exp-stop", "#exp-start", "#exp-delete"):
        expect(page.locator(button)).to_be_hidden()
    page.click(".crumbs >> text=Experiments")
    expect(page.locator("h1")).to_have_text("Experiments")
