"""A process that holds one connection to ``echo`` open, for tunnel tests:
``python3 hold_client.py OUT``. Once a byte came back it writes ``OUT.open``; once the
connection ends it writes ``OUT.closed`` (retrying while the server is not up yet)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from tunnel_client import until_done  # beside this script


def main() -> None:
    out = Path(sys.argv[1])
    host, port = os.environ["SYMPH_ECHO_HOST"], int(os.environ["SYMPH_ECHO_PORT"])

    def attempt() -> bool:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"x")
            if sock.recv(1) != b"x":
                return False
            out.with_suffix(".open").write_text("open\n")
            sock.settimeout(None)
            try:
                while sock.recv(1 << 16):
                    pass
            except OSError:
                pass
            out.with_suffix(".closed").write_text("closed\n")
            return True

    until_done(attempt)


if __name__ == "__main__":
    main()
