"""A node that asks for an uploaded archive again and again without reading the
answers: the Conductor holds a few answers for it (512 KiB each), not one per read.

A real node has one read in flight per download; this one sends 320 reads (in batches)
and reads nothing. The Conductor queued one answer for each (160 MiB); now it reads
that link no further until the answers are taken, and the link ends as any link that
takes no data does. Another node's link stays up meanwhile.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import trio

from symphony.wire import UploadData

from .cluster import node_state, shared_cert_node, start_conductor, start_node, wait_for
from .hostile import frame, hostile_link, live_objects, send_raw

ARCHIVE = os.urandom(512 * 1024)
SHA = hashlib.sha256(ARCHIVE).hexdigest()


async def test_upload_reads_without_reading_hold_a_few_answers(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        (tmp_path / "c" / "uploads" / SHA).write_bytes(ARCHIVE)
        await start_node(nursery, shared_cert_node(info, "bystander", tmp_path / "n"))
        assert await wait_for(lambda: node_state(info, "bystander")) == "ready"
        async with hostile_link(info) as conn:
            with trio.move_on_after(3):
                for batch in range(5):
                    reads = [
                        {
                            "t": "upload_read",
                            "request_id": f"r{batch}-{i}",
                            "sha256": SHA,
                            "offset": 0,
                        }
                        for i in range(64)
                    ]
                    await send_raw(conn, frame(reads))
                await trio.sleep(1)  # the Conductor reads what it will
            held = live_objects(UploadData)
            assert held <= 8, f"{held} answers of 512 KiB held for a node that reads none"
            assert await node_state(info, "bystander") == "ready"
            nursery.cancel_scope.cancel()
