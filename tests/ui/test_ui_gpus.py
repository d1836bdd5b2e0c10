"""GPU devices in the web UI: per instance on a deployment's page, per device on the
node's card (the local node of ``symphony up`` declares devices 0 and 1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium, serve_up
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The local node declares two GPU devices (the other UI tests' node has none)."""
    yield from serve_up(tmp_path_factory, "--gpu", "0", "--gpu", "1")


def test_ui_gpus_shown_per_instance_and_per_device(page: Any, server: Server) -> None:
    deploy(server, "gpu-job", capacity_requests={"gpu": 1})
    try:
        holder = server.wait(
            lambda: [
                i
                for i in server.api.get("/deployments/gpu-job").json()["instances"]
                if i["state"] == "running" and i["devices"]
            ]
        )[0]
        (device,) = holder["devices"]
        login(page, server, "#/d/gpu-job")
        expect(page.locator("td[data-label='GPUs']")).to_have_text(device)
        page.goto(server.ui("#/nodes"))
        card = page.locator("section.node[data-node='ui-node']")
        held = card.locator(f".gpu-devices li[data-device='{device}']")
        expect(held.locator("a")).to_have_text(holder["id"])
        other = "1" if device == "0" else "0"
        expect(card.locator(f".gpu-devices li[data-device='{other}']")).to_contain_text("free")
        held.locator("a").click()
        expect(page.locator("h1")).to_contain_text("gpu-job")
    finally:
        remove(server, "gpu-job")
