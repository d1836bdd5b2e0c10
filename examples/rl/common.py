"""What the example's processes share: finding a name, and line-based TCP with retries."""

from __future__ import annotations

import os
import socket
import sys
import time


def address(name: str) -> tuple[str, int]:
    """Where ``name`` is, from the SYMPH_* variables Symphony gives every process."""
    stem = name.upper().replace("-", "_")
    return os.environ[f"SYMPH_{stem}_HOST"], int(os.environ[f"SYMPH_{stem}_PORT"])


def say(text: str) -> None:
    """One line on stdout, flushed (it goes to the process's log file)."""
    print(text, flush=True)


def request(name: str, line: str, *, deadline: float = 60.0) -> str:
    """Send ``line`` to ``name`` and return the answer line, retrying until the server
    listens (processes of an experiment start together, in no particular order)."""
    host, port = address(name)
    give_up = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                conn.sendall(line.encode() + b"\n")
                return conn.makefile().readline().strip()
        except OSError as error:
            if time.monotonic() > give_up:
                sys.exit(f"{name} at {host}:{port} did not answer: {error}")
            time.sleep(0.2)
