"""The web UI never holds a secret's value: a job that prints its secret shows ``***``
in its live log, the page's DOM (and everything the browser was sent) lacks the value,
and editing the spec through the form keeps the reference."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, expect_state, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)

VALUE = "ui-s3cret-VALUE-42"


@pytest.fixture
def secret_job(server: Server) -> Any:
    assert server.api.post("/secrets", json={"name": "ui-tok", "value": VALUE}).status_code in (
        200,
        201,
    )
    script = 'while :; do echo "token is $TOKEN"; sleep 0.2; done'
    yield deploy(
        server,
        "secret-printer",
        config={"command": ["sh", "-c", script], "env": {"TOKEN": {"secret": "ui-tok"}}},
    )
    remove(server, "secret-printer")


def test_ui_secret_value_is_never_in_the_page(page: Any, server: Server, secret_job: Any) -> None:
    bodies: list[bytes] = []
    page.on("response", lambda r: bodies.append(r.body()) if r.request.method == "GET" else None)
    login(page, server, "#/d/secret-printer")
    expect_state(page, server, "secret-printer", "running")
    expect(page.locator("#log-output")).to_contain_text("token is ***")
    expect(page.locator("#secrets")).to_contain_text("TOKEN=*** (secret ui-tok)")
    expect(page.locator("#events")).to_contain_text("started")
    assert VALUE not in page.content()
    # The edit form shows the reference masked and sends it back unchanged.
    page.goto(server.ui("#/d/secret-printer/edit"))
    field = page.locator("#f-env .kv-value").first
    expect(field).to_have_value("*** (secret ui-tok)")
    page.fill("#f-replicas", "2")
    page.click("#submit")
    expect(page.locator(".fact-grid")).to_contain_text("2 desired")
    env = server.api.get("/deployments/secret-printer").json()["spec"]["config"]["env"]
    assert env == {"TOKEN": {"secret": "ui-tok"}}
    assert VALUE not in page.content()
    assert not [b for b in bodies if VALUE.encode() in b]  # nor anything the API sent
