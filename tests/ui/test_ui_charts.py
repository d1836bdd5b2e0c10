"""The charts of the last hour in a real Chromium against a real ``symphony up``.

A node card on the Nodes page draws its CPU and RAM; a deployment's page draws its
restarts per minute and each live instance's CPU and RSS. Each chart is an SVG of our
own (no library, no network) whose ``data-points`` says how many minutes it draws.
With ``SYMPHONY_SCREENSHOTS`` set, the charts are saved as pictures for the docs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from .conftest import Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
#: The Nodes page asks for its history every 10 s, the first answer may predate the
#: first bucket: allow for two rounds, on a busy machine.
CHART_WAIT_MS = 30_000

#: Holds 30 MB, spins for a moment, then sleeps and fails: it restarts every few seconds.
CRASHER = (
    "import time\n"
    "x = bytearray(30_000_000); x[::4096] = b'1' * len(x[::4096])\n"
    "end = time.time() + 0.3\n"
    "while time.time() < end: pass\n"
    "time.sleep(2.5)\n"
    "raise SystemExit(1)\n"
)


def points(chart: Any) -> int:
    return int(chart.locator("svg.chart-svg").get_attribute("data-points") or 0)


def expect_points(chart: Any, at_least: int = 1) -> None:
    """Wait until the chart draws at least ``at_least`` minutes."""
    expect(chart.locator("svg.chart-svg:not([data-points='0'])")).to_have_count(
        1, timeout=CHART_WAIT_MS
    )
    assert points(chart) >= at_least


def save(page: Any, element: Any, name: str) -> None:
    """Save the part of the page ``element`` covers (clipped from the page: the Nodes
    page redraws its cards every second, which would detach an element screenshot)."""
    target = os.environ.get("SYMPHONY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        box = element.bounding_box()
        page.screenshot(path=str(Path(target) / f"{name}.png"), clip=box, full_page=True)


def drawable(server: Server, name: str) -> bool:
    """The deployment's history has a restart and a live instance's samples."""
    history = server.api.get(f"/deployments/{name}/usage-history").json()
    restarts = sum(r["count"] for r in history["restarts"])
    return restarts > 0 and any(i["buckets"] for i in history["instances"])


def test_ui_node_card_charts_cpu_and_ram(page: Any, server: Server) -> None:
    login(page, server)
    card = page.locator("[data-node=ui-node]")
    charts = card.locator("[data-charts=node] figure.chart")
    expect(charts).to_have_count(2, timeout=CHART_WAIT_MS)
    cpu, ram = charts.nth(0), charts.nth(1)
    expect(cpu.locator(".chart-title")).to_have_text("CPU")
    expect(ram.locator(".chart-title")).to_have_text("RAM")
    for chart in (cpu, ram):
        expect_points(chart)
        assert chart.locator("path.chart-line").count() >= 1 or chart.locator("circle").count()
        assert chart.locator("text.chart-axis").count() == 6  # 3 values, 3 times
    expect(cpu.locator(".chart-value")).to_contain_text("%")
    expect(ram.locator(".chart-value")).to_contain_text("GiB")
    assert cpu.locator("text.chart-axis").first.text_content() == "0 %"
    save(page, card, "ui-node-charts")


def test_ui_deployment_page_charts_restarts_and_instance_usage(page: Any, server: Server) -> None:
    deploy(
        server,
        "chart-job",
        config={"command": [sys.executable, "-c", CRASHER]},
        restart_policy={"type": "always", "backoff_seconds": 0.5, "max_backoff_seconds": 0.5},
    )
    try:
        # The page asks for the history as it opens, then every 10 s: open it once the
        # history holds what the charts draw, so that (mostly) its first answer does.
        server.wait(lambda: drawable(server, "chart-job"), timeout=30)
        login(page, server, "#/d/chart-job")
        usage = page.locator("#usage")
        restarts = usage.locator("[data-charts=restarts] figure.chart")
        expect(restarts.locator(".chart-title")).to_have_text("Restarts per minute")
        assert points(restarts) == 60  # every minute of the hour has a count, zero or not
        expect(restarts.locator("rect.chart-bar").first).to_be_attached(timeout=CHART_WAIT_MS)
        expect(restarts.locator(".chart-value")).not_to_have_text("0 in the last hour")

        row = usage.locator(".usage-instance")
        expect(row).to_have_count(1, timeout=CHART_WAIT_MS)
        expect(row.locator(".usage-instance-head")).to_contain_text("on ui-node")
        cpu, rss = row.locator("figure.chart").nth(0), row.locator("figure.chart").nth(1)
        expect(cpu.locator(".chart-title")).to_have_text("CPU")
        expect(rss.locator(".chart-title")).to_have_text("RSS")
        expect_points(cpu)
        expect_points(rss)
        expect(rss.locator(".chart-value")).to_contain_text("MiB")
        save(page, usage, "ui-deployment-charts")
    finally:
        remove(server, "chart-job")
