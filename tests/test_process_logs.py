"""Job logs: files the job writes directly, rotation under a live writer, tail and follow."""

from __future__ import annotations

import os
import sys
import time

import trio

from symphony.node.process.joblogger import LogFile
from symphony.node.process.logstream import follow_file
from symphony.node.process.logtimes import index_cap
from tests.jobs.harness import open_node, spec, wait_real


async def test_logs_rotate_under_a_live_writer_keeping_lines_whole(tmp_path) -> None:
    go = tmp_path / "go"
    script = (
        "i=0; while [ $i -lt 400 ]; do echo line-$i-..............................; "
        f"i=$((i+1)); done; while [ ! -f {go} ]; do sleep 0.01; done; echo after; sleep 1000"
    )
    async with open_node(str(tmp_path / "node")) as node:
        await node.start("chatty", spec(["sh", "-c", script], log_max_bytes=4096, log_backups=2))
        live = os.path.join(node.state_dir, "logs", "chatty", "stdout.log")
        await wait_real(lambda: node.manager.tail("chatty", "stdout", 1) == [LAST])
        go.touch()
        await wait_real(lambda: node.manager.tail("chatty", "stdout", 1) == ["after"])
        for name in (live, live + ".1", live + ".2"):
            with open(name, "rb") as f:
                data = f.read()
            assert 0 < len(data) <= 4096 and data.endswith(b"\n")  # whole lines only
        assert not os.path.exists(live + ".3")
        assert node.manager.tail("chatty", "stdout", 2) == [LAST, "after"]
        assert node.manager.tail("chatty", "stderr", 5) == []


LAST = "line-399-.............................."


async def test_logs_follow_yields_new_lines_of_a_running_then_exited_job(tmp_path) -> None:
    go = tmp_path / "go"
    script = f"echo one; while [ ! -f {go} ]; do sleep 0.01; done; echo two; echo oops >&2"
    async with open_node(str(tmp_path / "node")) as node:
        await node.start("f", spec(["sh", "-c", script], restart_policy={"type": "never"}))
        lines = node.manager.follow("f", "stdout", from_start=True, poll_interval=0.01)
        assert await lines.__anext__() == "one"
        go.touch()
        assert await lines.__anext__() == "two"
        await lines.aclose()
        await node.wait_for("f", "exited")
        errors = node.manager.follow("f", "stderr", from_start=True, poll_interval=0.01)
        assert await errors.__anext__() == "oops"  # an exited instance can be followed too
        await errors.aclose()


async def test_logs_follow_continues_across_rotations(tmp_path) -> None:
    path = str(tmp_path / "out.log")
    log = LogFile(path, max_bytes=64, backups=10)
    log.write(b"first\n")
    lines = follow_file(path, poll_interval=0.01)  # from the current end
    log.write(b"a\n")
    assert await lines.__anext__() == "a"
    numbered = [f"line {i:02d} ...." for i in range(20)]  # 300 bytes: several rotations
    log.write("".join(f"{line}\n" for line in numbered[:6]).encode())  # one rotation
    assert await lines.__anext__() == numbered[0]
    log.write("".join(f"{line}\n" for line in numbered[6:]).encode())
    assert [await lines.__anext__() for _ in range(19)] == numbered[1:]
    await lines.aclose()
    log.close()


async def test_logs_a_job_writing_100_mb_leaves_the_node_responsive(tmp_path) -> None:
    writer = (
        "import sys\nline = b'x' * 1023 + b'\\n'\n"
        "for _ in range(100 * 1024): sys.stdout.buffer.write(line)\n"
    )
    max_bytes, backups = 4 * 1024 * 1024, 3
    async with open_node(str(tmp_path / "node")) as node:
        job = spec(
            [sys.executable, "-c", writer],
            restart_policy={"type": "never"},
            log_max_bytes=max_bytes,
            log_backups=backups,
        )
        await node.start("flood", job)
        latencies = []
        while "exited" not in node.states("flood"):
            start = time.perf_counter()
            await node.manager.list_instances()
            latencies.append(time.perf_counter() - start)
            await trio.sleep(0.005)
        await node.start("other", spec(["true"], restart_policy={"type": "never"}))
        await node.wait_for("other", "exited")
        exited = await node.wait_for("flood", "exited")
        assert exited.exit_code == 0
        # The agent never touches the flood (the job's logger writes the files): it
        # keeps answering. Bounds are loose for busy CI machines; typical is ~1 ms.
        latencies.sort()
        assert latencies[len(latencies) // 2] < 0.05, f"median {latencies}"
        assert latencies[-1] < 1.0, f"list_instances took {latencies[-1] * 1000:.0f} ms"
        directory = os.path.join(node.state_dir, "logs", "flood")
        names = sorted(os.listdir(directory))
        assert len([n for n in names if n.startswith("stdout.log")]) <= backups + 1
        assert "stdout.log.1" in names  # it did rotate
        # Each log file's index of line times rotates with it (at most one per file).
        assert len([n for n in names if n.startswith("stdout.times")]) <= backups + 1
        logs = [n for n in names if ".log" in n]
        sizes = [os.path.getsize(os.path.join(directory, n)) for n in logs]
        # Rotated however fast they were written; a file passes the limit by at most the
        # rest of the line (1 KiB here) that was open when it filled.
        assert max(sizes) <= max_bytes + 1024
        assert sum(sizes) <= (backups + 1) * (max_bytes + 1024)
        times = [os.path.getsize(os.path.join(directory, n)) for n in names if ".times" in n]
        assert sum(times) <= (backups + 1) * index_cap(max_bytes)


async def test_logs_every_run_of_a_restarted_job_appends_to_the_same_files(tmp_path) -> None:
    # Each run starts a new logger on the files of the previous one, which end inside a
    # line here (printf without a newline): the next run's first line starts a new one.
    policy = {"type": "on-failure", "backoff_seconds": 0, "max_restarts": 2}
    script = 'echo "run $SYMPHONY_RUN_ID"; printf partial; exit 1'
    async with open_node(str(tmp_path / "node")) as node:
        await node.start("again", spec(["sh", "-c", script], restart_policy=policy))
        await node.wait_for("again", "failed")
        lines = node.manager.tail("again", "stdout", 10)
    assert len(lines) == 6, lines
    assert [line.startswith("run ") for line in lines] == [True, False] * 3
    assert lines[1::2] == ["partial"] * 3
    assert len({line for line in lines[0::2]}) == 3  # three runs, each logged
