"""Processes of the relay benchmark: a node from a JSON config, and the service.

``python -m benchmarks._relay_procs node '{...NodeConfig fields...}'`` runs a node;
``python -m benchmarks._relay_procs service PORT`` serves connections whose first byte
says what they are: ``S`` + 8-byte size: read that many bytes, answer ``k``
(throughput); ``E``: echo everything back (latency).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import trio


async def _read_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        got = await stream.receive_some(size - len(data))
        if not got:
            raise EOFError
        data += got
    return data


async def _serve_one(stream: trio.SocketStream) -> None:
    try:
        mode = await _read_exactly(stream, 1)
        if mode == b"S":
            (left,) = struct.unpack(">Q", await _read_exactly(stream, 8))
            while left > 0:
                got = await stream.receive_some(min(left, 1 << 20))
                if not got:
                    return
                left -= len(got)
            await stream.send_all(b"k")
        while data := await stream.receive_some(1 << 16):  # echo (and after a sink: rest)
            await stream.send_all(data)
    except (EOFError, trio.BrokenResourceError):
        pass


def main() -> None:
    kind, arg = sys.argv[1], sys.argv[2]
    if kind == "service":
        trio.run(trio.serve_tcp, _serve_one, int(arg))
        return
    from symphony.config import NodeConfig
    from symphony.node import run_node

    fields = json.loads(arg)
    for key in ("ca_file", "cert_file", "key_file", "state_dir"):
        fields[key] = Path(fields[key])
    fields["groups"] = tuple(fields["groups"])
    trio.run(run_node, NodeConfig(**fields))


if __name__ == "__main__":
    main()
