"""A node card with many instances: counted by state, the first few listed, a link to
the deployments list showing only the deployments placed there."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_node_card_summarises_many_instances(page: Any, server: Server) -> None:
    # Once, a card listed every instance placed on its node: with hundreds, its
    # capacity and load were a long scroll away, and the instance in trouble lost among
    # the running ones.
    sleeper = {"command": ["sleep", "600"]}
    deploy(server, "many", replicas=30, capacity_requests={"cpu": 1}, config=sleeper)
    deploy(
        server,
        "zz-crashy",  # last by name: it is listed first because it does not run
        capacity_requests={"cpu": 1},
        config={"command": ["sh", "-c", "exit 3"]},
        restart_policy={"type": "on-failure", "backoff_seconds": 120},
    )
    deploy(server, "elsewhere", capacity_requests={"cpu": 100_000})  # placed nowhere
    try:
        server.wait(lambda: server.api.get("/deployments/many").json()["replicas"]["running"] == 30)
        server.wait(
            lambda: (
                server.api.get("/deployments/zz-crashy").json()["instances"][0]["state"]
                == "restarting"
            )
        )
        login(page, server)
        card = page.locator("[data-node=ui-node]")
        counts = card.locator(".instance-counts .pill")
        expect(card.locator(".instance-counts")).to_contain_text("30 running")
        expect(card.locator(".instance-counts")).to_contain_text("1 restarting")
        items = card.locator(".node-instances li")
        expect(items).to_have_count(8)
        expect(items.first).to_contain_text("zz-crashy")
        expect(card).to_contain_text("and 23 more")
        assert counts.count() == 2
        card.locator("a.node-deployments").click()
        rows = page.locator("table.deployments tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#filter-node")).to_have_value("ui-node")
        assert page.url.endswith("#/deployments?node=ui-node")
        page.select_option("#filter-node", "")
        expect(page.locator("[data-deployment=elsewhere]")).to_have_count(1)
    finally:
        for name in ("many", "zz-crashy", "elsewhere"):
            remove(server, name)
