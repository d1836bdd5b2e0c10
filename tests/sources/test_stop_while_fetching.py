"""A stop while the job's code is still downloading ends the instance at once: a large
archive must not hold a stop (or a deployment's deletion) until it has arrived."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import trio

from symphony.node.process import ProcessManager, StartRequest, StatusUpdate
from symphony.node.sources import SourcePreparer
from symphony.spec import parse_spec
from symphony.wire import job_spec_from_dict


class Trickle(http.server.BaseHTTPRequestHandler):
    """Announces 100 MB, then sends a byte every 0.2 s (until the client goes)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(100 * 2**20))
        self.end_headers()
        try:
            for _ in range(300):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


async def test_stop_during_a_slow_download_stops_at_once(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/big.tar.gz"
    updates: list[StatusUpdate] = []
    sources = SourcePreparer(cache_dir=str(tmp_path / "cache"), cache_max_bytes=2**30)
    manager = ProcessManager(
        state_dir=str(tmp_path / "jobs"), node_id="n1", on_status=updates.append, sources=sources
    )
    spec = parse_spec({"config": {"image": url, "command": ["python3", "main.py"]}})
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(manager.run)
            request = StartRequest(instance_id="big-0", spec=job_spec_from_dict(spec.to_dict()))
            await manager.start_instance(request)
            with trio.fail_after(20):
                while not any("downloading" in (u.reason or "") for u in updates):
                    await trio.sleep(0.05)
            began = trio.current_time()
            with trio.fail_after(10):
                report = await manager.stop_instance("big-0")
            assert trio.current_time() - began < 5
            assert report.state == "stopped" and report.pid is None
            assert not [u for u in updates if u.state == "running"]  # nothing ever ran
            await manager.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "jobs" / "work" / "big-0").exists()
