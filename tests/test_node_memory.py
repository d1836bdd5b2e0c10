"""What a node keeps resident: its agent and its monitor load only what they use.

Idle memory is mostly the modules a process has imported (a process never gives them
back), so these pin the structure rather than a number of MiB: the agent's runtime
does not import the HTTP server stack, pydantic (config and spec validation) or
``cryptography`` (certificate building and reading), and the monitor runs no ``site``
hooks. Each is checked in a fresh interpreter, as a real process would start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symphony.node.process.client import monitor_command
from tests.jobs.harness import monitor_request

#: Modules a node agent has no use for while it runs (each costs it MiB for good).
NOT_IN_AGENT = ("cryptography", "pydantic", "quart", "hypercorn", "httpx", "quart_schema")


def modules_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` of a fresh interpreter after ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_the_node_runtime_imports_no_server_validation_or_certificate_library() -> None:
    loaded = modules_after("import symphony.node, symphony.node.service, symphony.config")
    assert "trio" in loaded  # the probe did import the runtime
    assert sorted(set(NOT_IN_AGENT) & loaded) == []


def test_the_node_monitor_runs_no_site_hooks(tmp_path: Path) -> None:
    """``site`` runs an environment's ``.pth`` files and ``sitecustomize``: whatever they
    import would stay resident in the long-lived monitor, which needs only the standard
    library. A ``sitecustomize`` that leaves a mark shows whether it ran."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    mark = tmp_path / "site-ran"
    (hooks / "sitecustomize.py").write_text(f"open({str(mark)!r}, 'w').close()\n")
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), *sys.path])}
    command = [*monitor_command(state_dir), "--state-dir", state_dir]
    monitor = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    try:
        assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
        assert monitor_request(state_dir, {"op": "stats"})["pid"] == monitor.pid
    finally:
        monitor_request(state_dir, {"op": "shutdown", "kill": True})
        monitor.wait(timeout=30)
        assert monitor.stdout is not None
        monitor.stdout.close()
    assert not mark.exists()


def test_gpu_discovery_without_nvidias_library_leaves_pynvml_unloaded() -> None:
    """No NVML library (no NVIDIA driver): both the device discovery and the resource
    monitor say "no GPUs" without importing pynvml, which is large."""
    probe = (
        "import ctypes, sys\n"
        "try:\n"
        "    ctypes.CDLL('libnvidia-ml.so.1')\n"
        "except OSError:\n"
        "    pass\n"
        "else:\n"
        "    sys.exit(3)\n"
        "from symphony.node.gpus import discover_devices\n"
        "from symphony.node.resources import Gpus\n"
        "assert discover_devices() == () and Gpus().static() == []\n"
        "print('pynvml' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if result.returncode == 3:
        pytest.skip("this machine has NVIDIA's library")
    assert (result.returncode, result.stdout, result.stderr) == (0, "False\n", "")
