"""A scheduled deployment's times in the web UI are in its schedule's time zone, as its
cron, its events and ``symphony runs`` give them."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .conftest import WAIT_MS, Server, needs_chromium
from .test_ui_browser import deploy, login, remove

pytestmark = needs_chromium
expect.set_options(timeout=WAIT_MS)


def test_ui_schedule_times_are_in_the_schedules_zone(page: Any, server: Server) -> None:
    # Once, "0 3 * * * (Europe/Berlin)" came with "next run 01:00:00" (the browser's
    # zone, unsaid), and the run-started event said the time in UTC.
    schedule = {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}
    deploy(server, "berlin", schedule=schedule, restart_policy={"type": "never"})
    try:
        login(page, server, "#/d/berlin")
        expect(page.locator("#runs")).to_contain_text(
            re.compile(r"next run \S* ?03:00:00 Europe/Berlin")
        )
        cells = page.evaluate(
            """async () => {
              const runs = await import('/ui/js/runs.js');
              const run = {number: 1, state: "succeeded", catch_up: false, scheduled_at: 3600,
                           started_at: 3601, finished_at: 3602, instances: [{exit_code: 0}]};
              const table = runs.runTable([run], "Asia/Tokyo");
              return [...table.querySelectorAll("th, td")].map((c) => c.innerText);
            }"""
        )
        assert "Scheduled (Asia/Tokyo)" in cells
        assert [c[-8:] for c in cells if c.endswith(("10:00:00", "10:00:01", "10:00:02"))] == [
            "10:00:00",
            "10:00:01",
            "10:00:02",
        ]
    finally:
        remove(server, "berlin")
