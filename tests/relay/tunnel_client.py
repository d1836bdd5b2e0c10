"""A process that connects to ``echo`` by its SYMPH_* values, for tunnel tests:
``python3 tunnel_client.py OUT SIZE``. Sends SIZE random bytes, checks they come back,
then writes ``ok <host> <via>`` to OUT (retrying while the server is not up yet)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable


def roundtrip(host: str, port: int, payload: bytes) -> bool:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = sock.recv(1 << 16)
            if not data:
                return False
            got += data
        return got == payload


def until_done(attempt: Callable[[], bool]) -> None:
    """Call ``attempt`` until it returns True (an OSError: the server is not up yet),
    for two minutes at most; then stay (the process's end is not the test's)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if attempt():
                break
        except OSError as error:
            print(f"not yet: {error}", flush=True)
        time.sleep(0.3)
    time.sleep(3600)


def main() -> None:
    out, size = sys.argv[1], int(sys.argv[2])
    host, port = os.environ["SYMPH_ECHO_HOST"], int(os.environ["SYMPH_ECHO_PORT"])
    via = os.environ.get("SYMPH_ECHO_VIA", "direct")
    payload = os.urandom(size)

    def attempt() -> bool:
        if not roundtrip(host, port, payload):
            return False
        with open(out + ".tmp", "w") as f:
            f.write(f"ok {host} {via}\n")
        os.rename(out + ".tmp", out)
        return True

    until_done(attempt)


if __name__ == "__main__":
    main()
