"""A bug in one instance's supervision fails that instance with a reason in words (the
first leaf exception's type and message), not an exception group's repr; the traceback
stays in the node's log. The bug here is real: the embedding program's ``on_status``
callback raises."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from symphony.node.process import ProcessManager, StatusUpdate
from symphony.node.process.instancehost import crash_reason
from symphony.spec import parse_spec

from .jobs.harness import run_until_failed


async def test_a_supervisor_crash_fails_the_instance_in_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    updates: list[StatusUpdate] = []

    def on_status(update: StatusUpdate) -> None:
        updates.append(update)
        if update.state == "running" and len(updates) < 5:
            raise RuntimeError("the status sink is full")

    manager = ProcessManager(state_dir=str(tmp_path / "jobs"), node_id="n1", on_status=on_status)
    spec = parse_spec({"config": {"command": ["sleep", "30"]}})
    caplog.set_level(logging.ERROR, logger="symphony")
    failed = await run_until_failed(manager, "x-0", spec, updates)
    assert failed.reason == "internal error: RuntimeError: the status sink is full"
    assert "supervisor of instance x-0 crashed" in caplog.text
    assert "Traceback" in caplog.text and "the status sink is full" in caplog.text


def test_crash_reason_takes_the_first_leaf_of_nested_groups() -> None:
    nested = ExceptionGroup(
        "outer", [ExceptionGroup("inner", [KeyError("spec")]), ValueError("later")]
    )
    assert crash_reason(nested) == "KeyError: 'spec'"
    assert crash_reason(AssertionError()) == "AssertionError"
    assert crash_reason(RuntimeError("two\n  lines")) == "RuntimeError: two lines"
