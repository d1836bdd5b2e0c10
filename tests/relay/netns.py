"""Network namespaces for relay tests: nodes that reach the Conductor but not each other.

Each namespace gets a veth pair to this host (``10.N.K.2`` inside, ``10.N.K.1`` here)
and nothing else: no default route, so from one namespace the other's address is
unreachable (``ENETUNREACH`` at once), while the Conductor, listening on this host,
answers on either ``10.N.K.1``. Needs root and iproute2; :func:`netns_skip_reason` says
why not when they are missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Namespace:
    name: str
    host_ip: str  # this host's end: where the Conductor is reached from inside
    inner_ip: str  # the namespace's own address

    def exec(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def netns_skip_reason() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2 (the ip command) to make network namespaces"
    probe = f"symprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def isolated_namespaces(count: int) -> Iterator[list[Namespace]]:
    """``count`` namespaces, each linked only to this host; removed afterwards."""
    tag = os.getpid() % 10000
    subnet = 100 + os.getpid() % 150  # 10.<subnet>.k.0/30: unlikely to meet another run's
    made: list[Namespace] = []
    try:
        for k in range(1, count + 1):
            ns = Namespace(f"symr{tag}n{k}", f"10.{subnet}.{k}.1", f"10.{subnet}.{k}.2")
            outer, inner = f"symr{tag}h{k}", f"symr{tag}i{k}"
            _run("ip", "netns", "add", ns.name)
            made.append(ns)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", ns.name)
            _run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", outer)
            _run("ip", "link", "set", outer, "up")
            _run(*ns.exec("ip", "addr", "add", f"{ns.inner_ip}/30", "dev", inner))
            _run(*ns.exec("ip", "link", "set", inner, "up"))
            _run(*ns.exec("ip", "link", "set", "lo", "up"))
        yield made
    finally:
        for ns in made:
            # Deleting the namespace deletes its end of the veth, and so the pair.
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
