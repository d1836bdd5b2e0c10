"""A job's code from an archive: first start (download + verify + unpack) vs cached start.

A 100 MB archive (``--mb``) of incompressible data is served over HTTP on 127.0.0.1;
each figure is from ``start_instance`` to the ``running`` status update, through the
real process layer (:class:`symphony.node.process.ProcessManager` with a
:class:`symphony.node.sources.SourcePreparer`):

- **first start**: an empty cache: download (sha256 computed on the way), unpack;
- **cached start**: another instance of the same spec: the archive is in the cache,
  only unpacked into the new instance's directory;
- **restart**: the instance's process killed; its directory is kept, nothing is fetched
  or unpacked;
- **raw**: ``curl``-free floors measured in the same run: reading the file once
  (``sha256``) and ``tar xzf`` of it.

Run: ``python -m benchmarks.sources`` (``--mb 100 --samples 3``). Prints a table and
writes ``benchmarks/results/sources.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import io
import os
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio

from benchmarks._report import print_table, summary, write_json
from benchmarks.process import Bench
from symphony.node.process import ProcessManager, StartRequest
from symphony.node.sources import SourcePreparer
from symphony.spec import parse_spec
from symphony.wire import job_spec_from_dict


def make_archive(path: Path, mb: int) -> str:
    """A tar.gz with ``mb`` MB of random data in 10 files plus ``main.py``; its sha256."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(10):
            data = os.urandom(mb * 2**20 // 10)
            info = tarfile.TarInfo(f"data/blob{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        main = b"import time\ntime.sleep(1000)\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(main)
        tar.addfile(info, io.BytesIO(main))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_floor(path: Path, tmp: Path) -> dict[str, float]:
    start = time.perf_counter()
    hashlib.sha256(path.read_bytes()).hexdigest()
    read = time.perf_counter() - start
    out = tmp / "raw-untar"
    out.mkdir()
    start = time.perf_counter()
    subprocess.run(["tar", "xzf", str(path), "-C", str(out)], check=True)
    return {"sha256_read_s": read, "tar_xzf_s": time.perf_counter() - start}


async def run(mb: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        site = tmp / "site"
        site.mkdir()
        archive = site / "image.tar.gz"
        digest = make_archive(archive, mb)
        raw = raw_floor(archive, tmp)
        first: list[float] = []
        cached: list[float] = []
        restart: list[float] = []
        with http_server(site) as url:
            spec = parse_spec(
                {"config": {"image": f"{url}/image.tar.gz", "sha256": digest,
                            "command": ["python3", "main.py"]},
                 "restart_policy": {"type": "always", "backoff_seconds": 0}}
            )  # fmt: skip
            job = job_spec_from_dict(spec.to_dict())
            for round_ in range(samples):
                state = tmp / f"node-{round_}"
                bench = Bench(str(state / "jobs"))
                sources = SourcePreparer(cache_dir=str(state / "cache"), cache_max_bytes=2**31)
                bench.manager = ProcessManager(
                    state_dir=str(state / "jobs"),
                    node_id="bench",
                    on_status=bench.record,
                    sources=sources,
                )
                async with trio.open_nursery() as nursery:
                    await nursery.start(bench.manager.run)
                    for name, out in (("first", first), ("cached", cached)):
                        start = time.perf_counter()
                        await bench.manager.start_instance(
                            StartRequest(instance_id=f"{name}-{round_}", spec=job)
                        )
                        at, running = await bench.wait(f"{name}-{round_}", "running")
                        out.append(at - start)
                    mark = len(bench.updates)
                    start = time.perf_counter()
                    assert running.pid is not None
                    os.kill(running.pid, signal.SIGKILL)
                    at, _ = await bench.wait(f"cached-{round_}", "running", after=mark)
                    restart.append(at - start)
                    assert sources.downloads == 1
                    await bench.manager.shutdown_monitor(kill_jobs=True)
                    nursery.cancel_scope.cancel()
    return {
        "archive_mb": mb,
        "raw": raw,
        "first_start_s": summary(first),
        "cached_start_s": summary(cached),
        "restart_s": summary(restart),
    }


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 from a thread; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    results = trio.run(run, args.mb, args.samples)
    raw = results["raw"]
    rows = [
        [f"first start, {args.mb} MB archive (s)", results["first_start_s"]["median"],
         results["first_start_s"]["max"]],
        ["cached start, same archive (s)", results["cached_start_s"]["median"],
         results["cached_start_s"]["max"]],
        ["restart of a started instance (s)", results["restart_s"]["median"],
         results["restart_s"]["max"]],
        ["raw: read + sha256 of the file (s)", raw["sha256_read_s"], ""],
        ["raw: tar xzf of the file (s)", raw["tar_xzf_s"], ""],
    ]  # fmt: skip
    print_table("Sources", ["measure", "median / value", "max"], rows)
    print(f"\nwrote {write_json('sources', results)}")


if __name__ == "__main__":
    main()
