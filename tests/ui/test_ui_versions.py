"""The web UI shows a roll in progress (old and new counts, health) and the version
history, and promotes canaries and rolls back from it (real Chromium, real ``up``)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import login

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_shows_the_roll_promotes_canaries_and_rolls_back(page: Any, server: Server) -> None:
    spec = {
        "name": "rolled",
        "node_group": "local",
        "capacity_requests": {"Analytic1": 1},
        "replicas": 2,
        "config": {"command": ["sleep", "600"]},
        "update": {"canary": 1, "min_healthy_seconds": 0.5},
    }
    assert server.api.post("/deployments", json=spec).status_code == 201
    try:
        login(page, server, "#/d/rolled")
        expect(page.locator("#rollout")).to_contain_text("version 1, no roll under way")
        patch = {"config": {"command": ["sleep", "601"]}}
        assert server.api.patch("/deployments/rolled", json=patch).status_code == 200
        # The canary runs beside the two old instances and waits for the promote.
        expect(page.locator("#rollout .pill")).to_have_text("canary")
        expect(page.locator("#roll-new")).to_have_text("1 new")
        expect(page.locator("#roll-old")).to_have_text("2 old")
        expect(page.locator("#rollout")).to_contain_text("(1 healthy)")
        page.click("#promote")
        expect(page.locator("#rollout")).to_contain_text("version 2, no roll under way")
        current = page.locator("#versions tr.current")
        expect(current).to_contain_text("2 (current)")
        expect(current).to_contain_text("sleep 601")
        expect(page.locator("#versions tr[data-version='1']")).to_contain_text("good")
        page.click("#rollback-1")
        expect(page.locator("#versions tr.current")).to_contain_text("1 (current)")
        expect(page.locator("#rollout")).to_contain_text("version 1, no roll under way")
        live = [
            i
            for i in server.api.get("/deployments/rolled").json()["instances"]
            if i["finished_at"] is None
        ]
        assert len(live) == 2 and {i["version"] for i in live} == {1}
    finally:
        server.api.delete("/deployments/rolled")
