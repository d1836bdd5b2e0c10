"""The node's log server: tail and follow meet exactly; a stalled follower drops, alone."""

from __future__ import annotations

import os
import re

import trio

from symphony.node.logserve import FOLLOWER_BUFFER, LogServer
from symphony.node.process.joblogger import LogFile
from symphony.wire import LogChunk, LogRequest


def _setup(tmp_path) -> tuple[LogServer, LogFile]:
    directory = tmp_path / "logs" / "job-1"
    directory.mkdir(parents=True)
    log = LogFile(str(directory / "stdout.log"), max_bytes=64 * 1024, backups=100)
    return LogServer(str(tmp_path)), log


def _lines(start: int, stop: int) -> bytes:
    return b"".join(b"%08d %s\n" % (i, b"z" * 90) for i in range(start, stop))


class Reader:
    """Collects what a request sends; ``gate`` (when set) must be open for a send to pass."""

    def __init__(self, gate: trio.Event | None = None) -> None:
        self.data = b""
        self.eof = False
        self.gate = gate

    async def send(self, chunk: LogChunk) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.data += chunk.data
        self.eof = self.eof or chunk.eof


async def _until(predicate, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


def _request(rid: str, *, tail: int, follow: bool) -> LogRequest:
    return LogRequest(request_id=rid, instance_id="job-1", tail=tail, follow=follow)


async def test_logserve_tail_then_follow_across_rotations_without_gap_or_repeat(tmp_path) -> None:
    server, log = _setup(tmp_path)
    log.write(_lines(0, 1000))  # ~100 KB: already rotated once
    reader = Reader()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, _request("r1", tail=700, follow=True), reader.send)
        await trio.sleep(0.05)
        log.write(_lines(1000, 5000))  # ~400 KB more: several rotations while following
        expected = _lines(300, 5000)
        await _until(lambda: len(reader.data) >= len(expected))
        nursery.cancel_scope.cancel()
    assert reader.data == expected
    tail = Reader()
    await server.serve(_request("r2", tail=2, follow=False), tail.send)
    assert (tail.data, tail.eof) == (_lines(4998, 5000), True)


async def test_logserve_follow_shows_a_line_still_being_written_once(tmp_path) -> None:
    server, log = _setup(tmp_path)
    log.write(b"first\n")
    early, late = Reader(), Reader()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, _request("a", tail=0, follow=True), early.send)
        await trio.sleep(0.05)
        log.write(b"ready> ")  # a prompt, or the last words of a job that died mid-line
        await trio.sleep(0.3)  # the shared reader has it, waiting for the line's end
        nursery.start_soon(server.serve, _request("b", tail=5, follow=True), late.send)
        await _until(lambda: late.data == b"first\nready> ")  # not silent about it
        log.write(b"yes\nnext\n")
        await _until(lambda: len(late.data) >= len(b"first\nready> yes\nnext\n"))
        await _until(lambda: len(early.data) >= len(b"ready> yes\nnext\n"))
        nursery.cancel_scope.cancel()
    assert late.data == b"first\nready> yes\nnext\n"  # each stream is the file, exactly
    assert early.data == b"ready> yes\nnext\n"


async def test_logserve_a_stalled_follower_drops_its_oldest_lines_and_says_so(tmp_path) -> None:
    server, log = _setup(tmp_path)
    gate = trio.Event()
    stalled, reading = Reader(gate), Reader()
    total = 30_000  # 3 MB: far more than a follower's buffer
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, _request("s", tail=0, follow=True), stalled.send)
        nursery.start_soon(server.serve, _request("r", tail=0, follow=True), reading.send)
        await trio.sleep(0.05)
        for start in range(0, total, 1000):
            log.write(_lines(start, start + 1000))
            await trio.sleep(0.001)
        # The reading follower is not held up by the stalled one: it gets every line.
        await _until(lambda: len(reading.data) >= len(_lines(0, total)))
        assert reading.data == _lines(0, total)
        (hub,) = server._hubs.values()
        assert all(f._size <= FOLLOWER_BUFFER + 128 * 1024 for f in hub.followers)
        gate.set()  # the stalled reader reads again
        await _until(lambda: stalled.data.endswith(_lines(total - 1, total)))
        nursery.cancel_scope.cancel()
    # It got its first chunk, then a note of how many lines it lost, then the newest
    # lines: every line is either received or counted as dropped.
    match = re.search(rb"\[symphony\] (\d+) lines dropped: reading too slowly\n", stalled.data)
    assert match is not None
    received = re.findall(rb"^(\d{8}) z+$", stalled.data, re.MULTILINE)
    assert len(received) + int(match.group(1)) == total
    assert len(stalled.data) < 2 * FOLLOWER_BUFFER
    assert [int(n) for n in received] == sorted(int(n) for n in received)


async def test_logserve_a_bad_instance_id_fails_only_that_request(tmp_path) -> None:
    server, _ = _setup(tmp_path)
    reader = Reader()
    request = LogRequest(request_id="x", instance_id="../etc", tail=5)
    await server.serve(request, reader.send)
    assert reader.eof and not os.path.exists(tmp_path / "etc")


async def test_logserve_says_when_an_instance_has_no_logs_here(tmp_path) -> None:
    """Never written, or deleted by the node's log retention (see ``process/loggc.py``)."""
    server, _ = _setup(tmp_path)
    reader = Reader()
    await server.serve(LogRequest(request_id="n", instance_id="gone-0", tail=5), reader.send)
    assert reader.eof and reader.data.startswith(b"[symphony] no logs on this node")
    empty = Reader()  # a directory without lines yet: an empty tail, as before
    await server.serve(_request("e", tail=5, follow=False), empty.send)
    assert (empty.data, empty.eof) == (b"", True)
