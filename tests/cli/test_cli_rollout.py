"""``symphony history``, ``rollback``, ``promote`` against a real ``symphony up``."""

from __future__ import annotations

from pathlib import Path

from symphony.cli.rollout import history_rows, roll_summary
from symphony.client import Client

from .test_up_e2e import cli, symphony_up, wait_for


def test_history_rows_newest_first_with_the_current_one_marked() -> None:
    versions = [
        {"version": 1, "current": False, "status": "good", "created_at": 0, "reason": None,
         "spec": {"config": {"command": ["sleep", "1"]}}},
        {"version": 2, "current": True, "status": "failed", "created_at": 90, "reason": "late",
         "spec": {"config": {"command": ["sleep", "2"]}}},
    ]  # fmt: skip
    rows = history_rows(versions, now=100)
    assert rows == [
        ["2 *", "failed", "10s", "sleep 2", "late"],
        ["1", "good", "1m40s", "sleep 1", None],
    ]


def test_roll_summary_says_the_roll_under_way() -> None:
    assert (
        roll_summary({"name": "web", "version": 3, "rollout": None}) == "deployment web: version 3"
    )
    rollout = {"state": "paused", "new": 1, "new_healthy": 0, "old": 2, "reason": "late"}
    line = roll_summary({"name": "web", "version": 3, "rollout": rollout})
    assert line == "deployment web: paused rolling to version 3 (1 new, 0 healthy, 2 old): late"
    # A rollback rolls without canaries (its roll state is "promoted"): it is not a promote.
    rollout = {"state": "promoted", "new": 0, "new_healthy": 0, "old": 4}
    rollout["reason"] = "rollback to version 1"
    line = roll_summary({"name": "web", "version": 1, "rollout": rollout})
    assert line == (
        "deployment web: rolling to version 1 (0 new, 0 healthy, 4 old): rollback to version 1"
    )
    rollout = {"state": "canary", "new": 1, "new_healthy": 0, "old": 4, "reason": None}
    line = roll_summary({"name": "web", "version": 3, "rollout": rollout})
    assert line == "deployment web: canaries of version 3 (1 new, 0 healthy, 4 old)"


def test_history_rollback_and_promote_commands(tmp_path: Path) -> None:
    with symphony_up(tmp_path):
        cli(tmp_path, "deploy", "--name", "hist", "--", "sleep", "600")
        api = Client(state_dir=tmp_path / ".symphony")
        # Each new instance must run min_healthy_seconds (10 s by default) before a roll
        # moves on; nothing here is about that wait.
        fast = {"min_healthy_seconds": 0.5}
        api.update_deployment("hist", {"config": {"command": ["sleep", "601"]}, "update": fast})
        out = cli(tmp_path, "history", "hist").stdout.splitlines()
        assert out[0].split() == ["VERSION", "STATUS", "AGE", "COMMAND", "REASON"]
        assert out[1].split()[:2] == ["2", "*"] and "sleep 601" in out[1]
        assert out[2].split()[:2] == ["1", "good"] and "sleep 600" in out[2]

        refused = cli(tmp_path, "promote", "hist", ok=False)
        assert refused.returncode != 0 and "no canaries" in refused.stderr

        back = cli(tmp_path, "rollback", "hist").stdout
        assert back.startswith("deployment hist:") and "version 1" in back

        def on_v1() -> bool:
            d = api.get_deployment("hist")
            live = [i for i in d["instances"] if i["finished_at"] is None]
            return d["rollout"] is None and bool(live) and all(i["version"] == 1 for i in live)

        wait_for("the rollback to version 1", on_v1, timeout=60)
        assert "1 *" in cli(tmp_path, "history", "hist").stdout
        missing = cli(tmp_path, "rollback", "hist", "7", ok=False)
        assert missing.returncode != 0 and "not kept" in missing.stderr
