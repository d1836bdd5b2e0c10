"""A job whose code cannot be fetched fails with the fetch's own words, as a job that
failed, not as a crash of its supervisor: no "internal error: ExceptionGroup(...)" for a
reason, and no traceback in the node's log (``symphony up`` prints that log)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from symphony.node.process import ProcessManager, StatusUpdate
from symphony.node.sources import SourcePreparer
from symphony.spec import parse_spec

from ..jobs.harness import run_until_failed


async def test_a_download_refused_fails_the_job_in_its_own_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/image.zip"
    updates: list[StatusUpdate] = []
    sources = SourcePreparer(cache_dir=str(tmp_path / "cache"), cache_max_bytes=2**30)
    manager = ProcessManager(
        state_dir=str(tmp_path / "jobs"), node_id="n1", on_status=updates.append, sources=sources
    )
    spec = parse_spec({"config": {"image": url, "command": ["python3", "main.py"]}})
    caplog.set_level(logging.ERROR, logger="symphony")
    failed = await run_until_failed(manager, "img-0", spec, updates)
    assert failed.reason is not None
    assert failed.reason.startswith(f"source: GET {url} failed: "), failed.reason
    assert "crashed" not in caplog.text, caplog.text
