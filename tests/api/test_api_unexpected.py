"""An error nobody expected is a logged 500 with its traceback, not the caller's 400."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from .helpers import cluster, sh


async def test_api_unexpected_store_failure_is_a_logged_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with cluster(tmp_path, node=False) as c:
        # Another process holds the database's write lock (an operator's sqlite3 shell):
        # the store gives up after its busy timeout. Nothing the client sent is wrong.
        other = sqlite3.connect(c.info.state_dir / "symphony.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with caplog.at_level(logging.ERROR, logger="symphony"):
                response = await c.http.post("/deployments", json=sh("true", "web"), timeout=30)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert response.status_code == 500, response.text
        assert response.json()["error"] == "internal error"
        logged = [r for r in caplog.records if r.exc_info and r.name.startswith("symphony")]
        assert logged, "the 500 left no traceback in the log"
        assert any(
            "database is locked" in r.getMessage() + str(r.exc_info[1].__cause__)
            for r in logged
            if r.exc_info
        )
