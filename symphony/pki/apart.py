"""Create a Conductor's certificates in a short-lived process of their own.

Creating a CA and certificates needs ``cryptography``, which a process keeps resident
for good once loaded (about 8 MiB). A Conductor creates them once, on its first start,
and then may run for months; so :func:`ensure_conductor_pki_apart` has a child
process create what is missing, then checks the files itself with :mod:`ssl` alone
(:func:`~symphony.pki.files.ensure_conductor_pki`)::

    pki = ensure_conductor_pki_apart(Path("storage/certs"), hosts=["10.0.0.5"])

Where the child cannot run, or fails, the same work is done in this process, which
reports any error exactly as :func:`ensure_conductor_pki` does.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .files import ConductorPKI, ensure_conductor_pki

__all__ = ["ensure_conductor_pki_apart"]

log = logging.getLogger("symphony.pki")

_FILES = ("ca.pem", "ca.key", "server.pem", "server.key", "node-client.pem", "node-client.key")


def ensure_conductor_pki_apart(cert_dir: Path, *, hosts: Sequence[str] = ()) -> ConductorPKI:
    """:func:`ensure_conductor_pki`, with whatever is missing created by a child process."""
    cert_dir = Path(cert_dir)
    # A process that has loaded the library already has nothing to save.
    apart = sys.executable and "cryptography" not in sys.modules
    if apart and not all((cert_dir / name).exists() for name in _FILES):
        _create_in_child(cert_dir, hosts)
    return ensure_conductor_pki(cert_dir, hosts=hosts)


# ``python -m`` would first import ``symphony.pki``'s parents, among them the whole wire
# package (Trio, WebSockets: a third of a second); the child registers bare parent
# packages and imports only what creating certificates needs, as the node monitor does.
_BOOTSTRAP = """
import sys, types
for name in ("symphony", "symphony.wire", "symphony.pki"):
    package = types.ModuleType(name)
    package.__path__ = [sys.argv[1] + name[len("symphony"):].replace(".", "/")]
    sys.modules[name] = package
from symphony.pki.apart import main
sys.exit(main(sys.argv[2:]))
"""


def _create_in_child(cert_dir: Path, hosts: Sequence[str]) -> None:
    # The child finds cryptography the way this process did, whatever put it on the path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-c", _BOOTSTRAP, package_dir, str(cert_dir), *hosts]
    try:
        done = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return  # created (or refused) in this process instead
    for line in done.stdout.decode(errors="replace").splitlines():
        log.info("%s", line)


def main(argv: Sequence[str]) -> int:
    """The child: create what is missing in ``argv[0]``, print what was made."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    # What was created; warnings about existing files come from the parent's own check.
    logging.getLogger().handlers[0].addFilter(lambda record: record.levelno == logging.INFO)
    try:
        ensure_conductor_pki(Path(argv[0]), hosts=argv[1:])
    except Exception:  # reported by the parent, which tries again and raises
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
