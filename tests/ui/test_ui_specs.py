"""The web UI's live feed carries summaries, never specs; the pages that show or edit a
spec read it themselves, again when it changes, and say so when they cannot.

Real Chromium against a real ``symphony up``. A failed read is made by the browser
refusing that one request (Playwright's routing), as an unreachable or failing
Conductor would answer it; everything else is the real API.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

STORE_SPECS = (
    "() => [...window.symphony.store.deployments.values()].filter((d) => 'spec' in d).length"
)


def _requests(page: Any) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_ui_deployment_page_reads_its_spec_the_feed_carries_none(page: Any, server: Server) -> None:
    deploy(
        server,
        "spec-shown",
        config={"command": ["sleep", "600"], "env": {"A": "1"}},
        restart_policy={"type": "always", "backoff_seconds": 3},
    )
    deploy(server, "spec-other", config={"command": ["sleep", "601"]})
    try:
        urls = _requests(page)
        login(page, server, "#/deployments")
        expect(page.locator("[data-deployment=spec-other]")).to_have_count(1)
        assert any(u.endswith("/live?view=summary") for u in urls), urls
        assert page.evaluate(STORE_SPECS) == 0  # every deployment known, no spec held
        assert not [u for u in urls if "/deployments/" in u]

        page.goto(server.ui("#/d/spec-shown"))
        expect(page.locator("#command")).to_contain_text("sleep 600")
        facts = page.locator(".fact-grid")
        expect(facts).to_contain_text("always, backoff 3 s")
        expect(facts).to_contain_text("Analytic1 1")
        expect(facts).to_contain_text("local")
        assert [u for u in urls if u.endswith("/deployments/spec-shown")], urls
        assert not [u for u in urls if u.endswith("/deployments/spec-other")]

        # Changed elsewhere: the feed's summary moves its generation, the page reads again.
        patched = server.api.patch(
            "/deployments/spec-shown", json={"config": {"command": ["sleep", "700"]}}
        )
        assert patched.status_code == 200, patched.text
        expect(page.locator("#command")).to_contain_text("sleep 700")
        assert len([u for u in urls if u.endswith("/deployments/spec-shown")]) == 2
    finally:
        remove(server, "spec-shown")
        remove(server, "spec-other")


def test_ui_deployment_page_says_when_its_spec_cannot_be_read(page: Any, server: Server) -> None:
    deploy(server, "spec-fails", config={"command": ["sleep", "600"]})
    try:
        refused = "**/deployments/spec-fails"
        page.route(
            refused,
            lambda route: route.fulfill(
                status=503, json={"error": "unavailable", "detail": "try later"}
            ),
        )
        login(page, server, "#/d/spec-fails")
        error = page.locator("#spec-error")
        expect(error).to_contain_text("Cannot read the spec: try later")
        # The rest of the page works from the feed meanwhile.
        expect(page.locator(".fact-grid")).to_contain_text("1 desired")
        expect(page.locator("#command")).to_have_count(0)
        page.unroute(refused)
        page.click("#spec-retry")
        expect(page.locator("#command")).to_contain_text("sleep 600")
        expect(error).to_have_count(0)
    finally:
        remove(server, "spec-fails")


def test_ui_edit_form_reads_the_spec_and_notes_a_change_made_meanwhile(
    page: Any, server: Server
) -> None:
    deploy(server, "spec-edit", config={"command": ["sleep", "600"], "env": {"A": "1"}})
    try:
        urls = _requests(page)
        login(page, server, "#/d/spec-edit/edit")
        expect(page.locator("#f-command")).to_have_value("sleep 600")
        expect(page.locator("#f-env .kv-key")).to_have_value("A")
        assert [u for u in urls if u.endswith("/deployments/spec-edit")], urls
        assert page.evaluate(STORE_SPECS) == 0

        # Someone else scales it while the form is open: said, and not undone by saving.
        assert server.api.patch("/deployments/spec-edit", json={"replicas": 2}).status_code == 200
        expect(page.locator("#spec-changed")).to_contain_text("changed since the form was opened")
        expect(page.locator("#f-replicas")).to_have_value("1")  # what the form showed stays
        page.fill("#f-command", "sleep 700")
        page.click("#submit")
        expect(page.locator("#command")).to_contain_text("sleep 700")
        spec = server.api.get("/deployments/spec-edit").json()["spec"]
        assert spec["config"]["command"] == ["sleep", "700"]
        assert spec["replicas"] == 2 and spec["config"]["env"] == {"A": "1"}
    finally:
        remove(server, "spec-edit")


def test_ui_edit_form_says_when_the_spec_cannot_be_read(page: Any, server: Server) -> None:
    deploy(server, "spec-edit-fails", config={"command": ["sleep", "600"]})
    try:
        refused = "**/deployments/spec-edit-fails"
        page.route(
            refused,
            lambda route: route.fulfill(
                status=503, json={"error": "unavailable", "detail": "try later"}
            ),
        )
        login(page, server, "#/d/spec-edit-fails/edit")
        expect(page.locator("#form-load-error")).to_contain_text(
            "Cannot load the spec of spec-edit-fails: try later"
        )
        page.unroute(refused)
        page.click("#form-retry")
        expect(page.locator("#f-command")).to_have_value("sleep 600")
        page.goto(server.ui("#/d/no-such-deployment/edit"))
        expect(page.locator("#form-load-error")).to_contain_text(
            "No deployment named no-such-deployment."
        )
    finally:
        remove(server, "spec-edit-fails")
