"""A node that sends error reports without pause cannot fill the Conductor's log: the
first ten of a link are logged, then one in a thousand with the count (each was a log
line: 5,000 reports, 5,000 lines)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.wire import StopInstance

from .cluster import start_conductor, wait_for
from .hostile import drain, frame, hostile_link, send_raw


async def test_error_reports_are_logged_a_few_then_sampled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        seen: list[Any] = []
        async with hostile_link(info) as conn:
            nursery.start_soon(drain, conn, seen)
            for batch in range(50):
                errors = [{"t": "error", "reason": f"bad {batch}-{i}"} for i in range(100)]
                await send_raw(conn, frame(errors))
            # Read in order: once this status is answered, every report was handled.
            status = {"instance_id": "nope", "deployment_id": "nope", "state": "running"}
            await send_raw(conn, frame({"t": "instance_status", **status}))

            async def answered() -> bool:
                return any(isinstance(m, StopInstance) for m in seen)

            await wait_for(answered)
        logged = [r for r in caplog.records if "reports an error" in r.getMessage()]
        assert 10 <= len(logged) <= 15, len(logged)
        assert "5000 on this link" in logged[-1].getMessage()
        nursery.cancel_scope.cancel()
