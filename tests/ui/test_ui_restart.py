"""A deployment's page restarts it (a rolling restart, offered only where the API takes
one) and offers no stop, start or scale for a process of an experiment, which its
experiment runs (real Chromium, real ``up``)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import login

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def _live_versions(server: Server, name: str) -> set[int]:
    reply = server.api.get(f"/deployments/{name}").json()
    return {i["version"] for i in reply["instances"] if i["finished_at"] is None}


def test_ui_restart_rolls_after_a_confirm_and_is_offered_only_where_allowed(
    page: Any, server: Server
) -> None:
    spec = {
        "name": "restarted",
        "node_group": "local",
        "capacity_requests": {"Analytic1": 1},
        "replicas": 2,
        "config": {"command": ["sleep", "600"]},
        "update": {"max_parallel": 1, "max_surge": 0, "min_healthy_seconds": 0.2},
    }
    assert server.api.post("/deployments", json=spec).status_code == 201
    try:
        login(page, server, "#/d/restarted")
        expect(page.locator("#rollout")).to_contain_text("version 1, no roll under way")
        # Cancel changes nothing; the dialog says how the instances are replaced.
        page.click("#restart")
        dialog = page.locator(".dialog")
        expect(dialog).to_contain_text("in batches")
        expect(dialog).to_contain_text("update policy")
        dialog.locator("button", has_text="Cancel").click()
        expect(page.locator(".dialog")).to_have_count(0)
        assert _live_versions(server, "restarted") == {1}
        page.click("#restart")
        page.locator(".dialog .btn.primary").click()
        expect(page.locator(".toast")).to_contain_text("restarting restarted")
        server.wait(lambda: _live_versions(server, "restarted") == {2}, timeout=30)
        expect(page.locator("#rollout")).to_contain_text("version 2, no roll under way")
        expect(page.locator("#restart")).to_be_visible()
        # Stopped meanwhile (another user, the CLI): the API's refusal is shown.
        page.click("#restart")
        expect(page.locator(".dialog")).to_be_visible()
        stop = {"desired_state": "stopped"}
        assert server.api.patch("/deployments/restarted", json=stop).is_success
        page.locator(".dialog .btn.primary").click()
        expect(page.locator(".toast.error")).to_contain_text("conflict")
        expect(page.locator(".toast.error")).to_contain_text("stopped")
        # A stopped deployment is not offered a restart.
        expect(page.locator("#start")).to_be_visible()
        expect(page.locator("#restart")).to_have_count(0)
    finally:
        server.api.delete("/deployments/restarted")


def test_ui_offers_no_restart_to_a_scheduled_deployment(page: Any, server: Server) -> None:
    spec = {
        "name": "nightly",
        "node_group": "local",
        "replicas": 1,
        "config": {"command": ["true"]},
        "schedule": {"cron": "0 3 * * *"},
    }
    response = server.api.post("/deployments", json=spec)
    assert response.status_code == 201, response.text
    try:
        login(page, server, "#/d/nightly")
        expect(page.locator("#command")).to_contain_text("true")  # the spec is read
        expect(page.locator("#stop")).to_be_visible()
        expect(page.locator("#restart")).to_have_count(0)
    finally:
        server.api.delete("/deployments/nightly")


def test_ui_process_of_an_experiment_is_managed_by_its_experiment(
    page: Any, server: Server
) -> None:
    spec = {"name": "ui-managed", "processes": [{"name": "worker", "command": ["sleep", "300"]}]}
    response = server.api.post("/experiments", json=spec)
    assert response.status_code == 201, response.text
    try:
        login(page, server, "#/d/ui-managed.worker")
        note = page.locator("#managed")
        expect(note).to_contain_text("managed by its experiment")
        for action in ("#stop", "#start", "#scale", "#scale-replicas", "#restart"):
            expect(page.locator(action)).to_have_count(0)
        expect(page.locator("#delete")).to_have_count(0)
        # Its edit form does not offer the replicas either (the API refuses them).
        page.click("#edit")
        expect(page.locator("#f-command")).to_be_visible()
        expect(page.locator("#f-replicas")).to_have_count(0)
        page.go_back()
        page.locator("#managed a").click()
        expect(page).to_have_url(server.ui("#/x/ui-managed"))
        expect(page.locator("h1")).to_contain_text("ui-managed")
    finally:
        server.api.delete("/experiments/ui-managed")


def test_ui_offers_no_action_for_a_process_before_its_spec_is_read(
    page: Any, server: Server
) -> None:
    """The live feed's summary comes before the spec (one more request): until the spec
    says whether the deployment is a process of an experiment, the header offers no
    stop, scale, restart or delete, which the API would refuse for a process."""
    spec = {"name": "ui-early", "processes": [{"name": "worker", "command": ["sleep", "300"]}]}
    response = server.api.post("/experiments", json=spec)
    assert response.status_code == 201, response.text
    held: list[Any] = []
    try:
        login(page, server)
        # The page's read of the deployment is held until the checks below are done.
        page.route("**/deployments/ui-early.worker", lambda route: held.append(route))
        page.goto(server.ui("#/d/ui-early.worker"))
        expect(page.locator("h1")).to_contain_text("ui-early.worker")
        page.wait_for_timeout(300)  # the feed's renders after the title, if any
        assert held, "the page did not read the deployment"
        for action in ("#stop", "#start", "#scale", "#restart", "#delete"):
            expect(page.locator(action)).to_have_count(0)
        expect(page.locator("#edit")).to_be_visible()
        for route in held:
            route.continue_()
        page.unroute("**/deployments/ui-early.worker")
        expect(page.locator("#managed")).to_contain_text("managed by its experiment")
        expect(page.locator("#stop")).to_have_count(0)
    finally:
        server.api.delete("/experiments/ui-early")


def test_ui_restart_of_one_replica_says_whether_a_gap_comes(page: Any, server: Server) -> None:
    spec = {
        "name": "single",
        "node_group": "local",
        "replicas": 1,
        "config": {"command": ["sleep", "600"]},
        "update": {"max_surge": 0, "min_healthy_seconds": 0.2},
    }
    assert server.api.post("/deployments", json=spec).status_code == 201
    try:
        login(page, server, "#/d/single")
        page.click("#restart")
        dialog = page.locator(".dialog")
        expect(dialog).to_contain_text("nothing runs until the new one has started")
        expect(dialog).not_to_contain_text("the others keep running")
        dialog.locator("button", has_text="Cancel").click()
        surge = {"update": {"max_surge": 1, "min_healthy_seconds": 0.2}}
        assert server.api.patch("/deployments/single", json=surge).is_success
        page.reload()
        page.click("#restart")
        expect(page.locator(".dialog")).to_contain_text("the new one starts first")
    finally:
        server.api.delete("/deployments/single")
