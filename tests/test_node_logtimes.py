"""Log lines by time: the logger notes when each line arrived; ``since`` and
``timestamps`` read by it, across rotations, with old files and with follow."""

from __future__ import annotations

import calendar
import os
import re
import time

import trio

from symphony.node.logserve import LogServer
from symphony.node.process.joblogger import LogFile
from symphony.node.process.logtimes import index_cap
from symphony.wire import LogRequest

from .test_node_logserve import Reader, _until

STAMP = re.compile(rb"^(\S+) (.*)$")


def _setup(tmp_path, *, max_bytes: int = 64 * 1024, backups: int = 100):
    directory = tmp_path / "logs" / "job-1"
    directory.mkdir(parents=True, exist_ok=True)
    log = LogFile(str(directory / "stdout.log"), max_bytes=max_bytes, backups=backups)
    return LogServer(str(tmp_path)), log, directory


def _lines(start: int, stop: int) -> bytes:
    return b"".join(b"%08d %s\n" % (i, b"z" * 90) for i in range(start, stop))


def _request(rid: str, **fields) -> LogRequest:
    return LogRequest(request_id=rid, instance_id="job-1", **fields)


def _ns(stamp: bytes) -> int:
    """Nanoseconds since the epoch of an RFC 3339 UTC stamp with 9 decimals."""
    whole, fraction = stamp.decode().rstrip("Z").split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(fraction)


async def _read(server: LogServer, **fields) -> bytes:
    reader = Reader()
    await server.serve(_request("r", **fields), reader.send)
    assert reader.eof
    return reader.data


def _batches(log: LogFile, sizes: list[int]) -> list[tuple[int, int, int, int]]:
    """Write batches of lines, a little apart; return (first, stop, before_ns, after_ns)."""
    out, first = [], 0
    for size in sizes:
        time.sleep(0.003)
        before = time.time_ns()
        log.write(_lines(first, first + size))
        out.append((first, first + size, before, time.time_ns()))
        first += size
    return out


async def test_logtimes_since_and_timestamps_across_rotations(tmp_path) -> None:
    server, log, _ = _setup(tmp_path)
    # ~100 bytes a line, 64 KiB a file: these batches span many rotated files.
    batches = _batches(log, [900, 700, 1, 1200, 5, 800])
    end = batches[-1][1]
    for first, _stop, before, _after in batches:
        since = await _read(server, tail=100_000, since_ns=before)
        assert since == _lines(first, end), f"since batch {first}"
    stamped = await _read(server, tail=100_000, timestamps=True)
    lines = stamped.splitlines(keepends=True)
    assert b"".join(STAMP.match(line).group(2) + b"\n" for line in lines) == _lines(0, end)
    for first, stop, before, after in batches:
        for line in lines[first:stop]:
            assert before <= _ns(STAMP.match(line).group(1)) <= after + 1_000_000
    # --since and --tail together: the last N of the lines since.
    assert await _read(server, tail=3, since_ns=batches[1][2]) == _lines(end - 3, end)
    assert await _read(server, tail=5000, since_ns=batches[5][2]) == _lines(end - 800, end)
    # A since after every line: nothing (and no error).
    assert await _read(server, tail=100, since_ns=time.time_ns() + 10**9) == b""


async def test_logtimes_old_files_read_with_unknown_times_older_than_any_since(tmp_path) -> None:
    directory = tmp_path / "logs" / "job-1"
    directory.mkdir(parents=True)
    (directory / "stdout.log.1").write_bytes(_lines(0, 5))  # written before log times
    (directory / "stdout.log").write_bytes(_lines(5, 8))
    server, log, _ = _setup(tmp_path)  # a new run's logger appends to the old file
    before = time.time_ns()
    log.write(_lines(8, 10))
    assert await _read(server, tail=100) == _lines(0, 10)  # plain reads as before
    assert await _read(server, tail=100, since_ns=0) == _lines(8, 10)
    stamped = (await _read(server, tail=100, timestamps=True)).splitlines()
    assert [line.split(b" ", 1)[0] for line in stamped[:8]] == [b"-"] * 8
    assert all(_ns(line.split(b" ", 1)[0]) >= before for line in stamped[8:])


async def test_logtimes_index_is_bounded_and_rotates_with_its_log(tmp_path) -> None:
    max_bytes, backups = 4096, 2
    server, log, directory = _setup(tmp_path, max_bytes=max_bytes, backups=backups)
    # Tiny lines, each in its own read well apart: one record each, 16 bytes for 3.
    for i in range(400):
        log.write(b"%02d\n" % (i % 100))
        time.sleep(0.0012)
    names = sorted(os.listdir(directory))
    cap = index_cap(max_bytes)
    assert [n for n in names if n.startswith("stdout.times")] == [
        "stdout.times",
        "stdout.times.1",
        "stdout.times.2",
    ]
    assert all(os.path.getsize(directory / n) <= cap for n in names if "times" in n)
    # The full index rotated its log early (the log alone never reached max_bytes).
    assert all(os.path.getsize(directory / n) < max_bytes // 2 for n in names if ".log" in n)
    stamped = (await _read(server, tail=100_000, timestamps=True)).splitlines()
    assert stamped and all(line.split(b" ", 1)[0] != b"-" for line in stamped)


async def test_logtimes_follow_with_since_and_timestamps(tmp_path) -> None:
    server, log, _ = _setup(tmp_path)
    log.write(_lines(0, 300))
    time.sleep(0.003)
    since = time.time_ns()
    log.write(_lines(300, 500))
    reader = Reader()
    async with trio.open_nursery() as nursery:
        request = _request("f", tail=150, follow=True, since_ns=since, timestamps=True)
        nursery.start_soon(server.serve, request, reader.send)
        await _until(lambda: reader.data.count(b"\n") >= 150)
        log.write(_lines(500, 2000))  # several rotations while following
        log.write(b"partial")
        await _until(lambda: reader.data.count(b"\n") >= 1650)
        log.write(b" line\n")
        await _until(lambda: reader.data.count(b"\n") >= 1651)
        nursery.cancel_scope.cancel()
    body = b"".join(STAMP.match(line).group(2) + b"\n" for line in reader.data.splitlines())
    assert body == _lines(350, 2000) + b"partial line\n"
