"""Which container runtimes this node can use: found on ``PATH`` and answering.

A ``docker`` client without a daemon is on many machines: ``docker version`` then fails
(it asks the daemon), so it is not reported. ``podman version`` answers without a
daemon. A runtime that answers may still be unable to run a container (no user
namespaces, say): such a job fails with the runtime's own error in its stderr log.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping

log = logging.getLogger("symphony.node.container")

RUNTIMES = ("docker", "podman")
#: How long ``<runtime> version`` may take before the runtime counts as absent.
PROBE_TIMEOUT = 15.0


_found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}


def detect_runtimes(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{name: absolute path}`` of each runtime whose ``version`` command succeeds.

    Blocking (a few hundred ms the first time for an environment, then remembered for
    the life of the process): call it from a thread.
    """
    env = dict(os.environ if env is None else env)
    key = tuple(sorted(env.items()))
    if key not in _found:
        _found[key] = _probe(env)
    return dict(_found[key])


def _probe(env: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in RUNTIMES:
        path = shutil.which(name, path=env.get("PATH") or os.defpath)
        if path is None:
            continue
        try:
            done = subprocess.run(
                [path, "version"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            log.info("container runtime %s at %s does not answer: %s", name, path, error)
            continue
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            log.info("container runtime %s at %s is not usable: %s", name, path, why[0])
            continue
        found[name] = os.path.abspath(path)
    return found
