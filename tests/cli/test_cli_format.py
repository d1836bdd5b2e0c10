"""Output formatting of the client commands: tables, ages, exits, rows of ps/nodes/events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from symphony.cli import _table as t
from symphony.cli.logs import event_rows
from symphony.cli.ps import PS_HEADERS, node_rows, ps_rows

NOW = 1_800_000_000.0


def instance(**fields):
    base = {
        "id": "web-0-abc123",
        "replica": 0,
        "node_id": "laptop",
        "state": "running",
        "pid": 4242,
        "restarts": 0,
        "exit_code": None,
        "signal": None,
        "health": None,
        "reason": None,
        "started_at": NOW - 90,
        "finished_at": None,
        "updated_at": NOW - 30,
    }
    return {**base, **fields}


def deployment(name="web", instances=(), **fields):
    base = {
        "id": f"dep_{name}",
        "name": name,
        "desired_state": "running",
        "state": "running",
        "replicas": {"desired": 1, "running": 1},
        "pending_reason": None,
        "instances": list(instances),
    }
    return {**base, **fields}


def test_table_aligns_columns_and_leaves_no_trailing_spaces() -> None:
    text = t.table(["A", "LONGER", "C"], [["xxxx", None, ""], ["y", "z", "last"]])
    assert text.splitlines() == ["A      LONGER   C", "xxxx   -        -", "y      z        last"]
    assert all(line == line.rstrip() for line in text.splitlines())


def test_table_cell_flattens_line_breaks() -> None:
    assert t.table(["M"], [["two\nlines"]]).splitlines()[1] == "two lines"


def test_duration_is_one_format_for_every_span() -> None:
    spans = (0, 0.04, 3.84, 9.99, 10, 42, 59.9, 60, 90, 303, 720, 3599, 3600, 18180, 36000)
    assert [t.duration(s) for s in spans] == [
        "0s", "0s", "3.8s", "10s", "10s", "42s", "59s", "1m", "1m30s", "5m3s", "12m", "59m",
        "1h", "5h3m", "10h",
    ]  # fmt: skip
    assert [t.duration(s) for s in (86400, 187200, 86400 * 12 + 7200)] == ["1d", "2d4h", "12d"]
    assert t.duration(-5) == "0s"  # a restart already due, or clock skew
    assert t.duration(None) == "-"


def test_age_is_a_duration_and_never_goes_negative() -> None:
    assert [t.age(NOW - s, NOW) for s in (0, 59, 60, 3599, 3600, 86400 * 3)] == [
        "0s",
        "59s",
        "1m",
        "59m",
        "1h",
        "3d",
    ]
    assert t.age(NOW + 5, NOW) == "0s"  # clock skew between machines
    assert t.age(None, NOW) == "-"


def test_fit_cuts_lines_only_when_given_a_width() -> None:
    text = "short\n" + "x" * 50
    assert t.fit(text, None) == text
    assert t.fit(text, 20).splitlines() == ["short", "x" * 17 + "..."]


def test_exit_text_names_signals_and_shows_codes() -> None:
    assert t.exit_text(None, 9) == "SIGKILL"
    assert t.exit_text(None, "SIGTERM") == "SIGTERM"
    assert t.exit_text(None, 250) == "signal 250"
    assert t.exit_text(3, None) == "3"
    assert t.exit_text(0, None) == "0"
    assert t.exit_text(None, None) == "-"


def test_size_and_capacities_read_like_a_person_writes_them() -> None:
    assert [t.size(n) for n in (512, 2048, 1536 * 1024**2, 16 * 1024**3)] == [
        "512B",
        "2.0K",
        "1.5G",
        "16.0G",
    ]
    assert t.capacities({"cpu": 400, "gpu": 1}, {"cpu": 150}) == "cpu 150/400, gpu 0/1"
    assert t.capacities({}, {}) == "-"


def test_ps_rows_show_live_instances_with_exit_and_restarts() -> None:
    dep = deployment(
        instances=[instance(restarts=2, signal=9, started_at=NOW - 300)],
    )
    rows = ps_rows([dep], show_all=False, wide=False, now=NOW)
    assert rows == [["web", "web-0-abc123", "laptop", "running", 2, "SIGKILL", "5m", None]]
    assert len(rows[0]) == len(PS_HEADERS)


def test_ps_rows_hide_ended_instances_unless_all() -> None:
    ended = instance(
        id="web-0-old", state="exited", exit_code=1, finished_at=NOW - 10, updated_at=NOW - 10
    )
    dep = deployment(instances=[instance(), ended])
    assert [r[1] for r in ps_rows([dep], show_all=False, wide=False, now=NOW)] == ["web-0-abc123"]
    everything = ps_rows([dep], show_all=True, wide=False, now=NOW)
    assert [r[1] for r in everything] == ["web-0-abc123", "web-0-old"]
    assert everything[1][3:] == ["exited", 0, "1", "10s", None]


def test_ps_rows_keep_a_deployment_without_live_instances_visible() -> None:
    stopped = deployment(name="batch", state="stopped", desired_state="stopped")
    pending = deployment(
        name="big", state="pending", pending_reason="no node in group 'gpu' has gpu: 8"
    )
    rows = ps_rows([stopped, pending], show_all=False, wide=False, now=NOW)
    assert rows[0][:4] == ["batch", None, None, "stopped"]
    assert rows[1][3] == "pending" and rows[1][-1] == "no node in group 'gpu' has gpu: 8"


def test_ps_rows_wide_adds_pid_before_reason_and_flags_unhealthy() -> None:
    dep = deployment(instances=[instance(health="unhealthy", reason="health check failed")])
    (row,) = ps_rows([dep], show_all=False, wide=True, now=NOW)
    assert row[3] == "running (unhealthy)"
    assert row[-2:] == [4242, "health check failed"]
    (row,) = ps_rows([dep], show_all=False, wide=False, now=NOW)
    assert row[-1] == "health check failed" and 4242 not in row


def test_ps_rows_restarting_counts_down_from_the_restart_time() -> None:
    waiting = instance(state="restarting", restart_at=NOW + 3.84, reason="exited with code 1")
    (row,) = ps_rows([deployment(instances=[waiting])], show_all=False, wide=False, now=NOW)
    assert (row[3], row[-1]) == ("restarting", "restarting in 3.8s")


def test_ps_rows_sort_by_name_and_tolerate_missing_fields() -> None:
    rows = ps_rows(
        [{"name": "b"}, {"name": "a", "instances": [{}]}], show_all=False, wide=False, now=NOW
    )
    assert [r[0] for r in rows] == ["a", "b"]
    assert rows[0][3] == "?"


def test_node_rows_summarise_capacity_usage_and_heartbeat() -> None:
    node = {
        "node_id": "laptop",
        "state": "ready",
        "groups": ["local", "gpu-1"],
        "capacities_total": {"cpu": 400},
        "capacities_used": {"cpu": 10},
        "resources": {"ram_total": 8 * 1024**3, "gpus": [{"index": 0}]},
        "usage": {"cpu_percent": 12.4, "ram_used": 2 * 1024**3, "ram_total": 8 * 1024**3},
        "last_heartbeat": NOW - 2,
    }
    assert node_rows([node], now=NOW) == [
        ["laptop", "ready", "local,gpu-1", "cpu 10/400", "12%", "2.0G/8.0G", 1, "2s ago"]
    ]
    (bare,) = node_rows([{"node_id": "new"}], now=NOW)
    assert bare[1:] == [None, "", "-", None, "-", 0, None]


def test_event_rows_show_time_kind_instance_and_message() -> None:
    rows = event_rows([{"at": NOW, "kind": "exited", "instance_id": "w-0", "message": "code 1"}])
    assert rows[0][1:] == ["exited", "w-0", "code 1"]
    assert rows[0][0] == t.clock(NOW)


def test_node_rows_state_says_draining_whatever_the_link_does() -> None:
    rows = node_rows(
        [
            {"node_id": "a", "state": "ready", "draining": True},
            {"node_id": "b", "state": "disconnected", "draining": True},
            {"node_id": "c", "state": "lost", "draining": False},
            {"node_id": "d", "state": "ready"},  # a Conductor that predates draining
        ],
        now=NOW,
    )
    assert [r[1] for r in rows] == ["draining", "disconnected,draining", "lost", "ready"]


def test_ps_rows_gpus_column_lists_each_instance_devices() -> None:
    from symphony.cli.ps import holds_devices

    held = instance(devices=["GPU-a", "GPU-b"])
    dep = deployment(instances=[held, instance(id="web-1-x", replica=1)])
    assert holds_devices([dep])
    rows = ps_rows([dep], show_all=False, wide=False, now=NOW, gpus=True)
    assert [row[-2] for row in rows] == ["GPU-a,GPU-b", None]
    assert not holds_devices([deployment(instances=[instance()])])
    ended = instance(devices=["0"], finished_at=NOW, state="exited")
    assert not holds_devices([deployment(instances=[ended])])  # only live ones count
    (empty,) = ps_rows([{"name": "x"}], show_all=False, wide=True, now=NOW, gpus=True)
    assert len(empty) == len(PS_HEADERS) + 2


def test_node_rows_and_device_rows_show_who_holds_each_gpu() -> None:
    from symphony.cli.ps import device_rows

    devices = [
        {"id": "GPU-a", "name": "A100", "instance_id": "train-0-x"},
        {"id": "GPU-b", "name": "A100", "instance_id": None},
    ]
    node = {"node_id": "g7", "gpu_devices": devices, "resources": {"gpus": [{}, {}]}}
    (row,) = node_rows([node], now=NOW)
    assert row[6] == "1/2"
    assert device_rows([node, {"node_id": "cpu-only"}]) == [
        ["g7", "GPU-a", "A100", "train-0-x"],
        ["g7", "GPU-b", "A100", None],
    ]


def test_table_cells_equal_as_keys_keep_their_own_text() -> None:
    """Cell texts are made once per distinct value: 1, 1.0 and True are one dict key."""
    text = t.table(["A", "B"], [[1, "x"], [True, "y"], [1.0, "z"], [["a", "b"], None]])
    assert text.splitlines() == [
        "A            B",
        "1            x",
        "True         y",
        "1.0          z",
        "['a', 'b']   -",
    ]
    assert t.table(["A", "B"], []) == "A   B"


@given(st.floats(min_value=-100, max_value=400_000, allow_nan=False))
def test_ages_of_one_table_read_as_each_age_would(ago: float) -> None:
    ages = t.Ages(NOW)
    assert ages.since(NOW - ago) == t.age(NOW - ago, NOW)
    assert ages.since(NOW - ago) == t.age(NOW - ago, NOW)  # the kept text, the second time
    assert ages.since(None) == "-"


def test_no_cyclic_gc_restores_the_collector_as_it_was() -> None:
    import gc

    assert gc.isenabled()
    with t.no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with t.no_cyclic_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_cell_shows_what_a_terminal_would_act_on_as_escapes() -> None:
    # A job's command is anyone's text: `symphony history` printed it raw, so a command
    # with an escape sequence cleared the screen and set the window's title.
    from symphony.cli._table import table
    from symphony.cli.rollout import history_rows

    command = ["/nonexist\x1b[2J\x1b]0;PWNED\x07\u202eabc", "\x9b31m"]
    versions = [
        {"version": 1, "status": "good", "created_at": 0, "spec": {"config": {"command": command}}}
    ]
    text = table(["VERSION", "STATUS", "AGE", "COMMAND", "REASON"], history_rows(versions, now=5))
    assert all(char.isprintable() or char == "\n" for char in text)
    assert "/nonexist\\x1b[2J\\x1b]0;PWNED\\x07\\u202eabc \\x9b31m" in text
    # Printable text, other scripts and emoji included, is shown as it is.
    assert table(["A"], [["héllo 世界 🎉"]]).endswith("héllo 世界 🎉")
