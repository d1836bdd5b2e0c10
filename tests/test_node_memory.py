"""What a node keeps resident: its agent and its monitor load only what they use.

Idle memory is mostly the modules a process has imported (a process never gives them
back), so these pin the structure rather than a number of MiB: the agent's runtime
does not import the HTTP server stack, pydantic (config and spec validation) or
``cryptography`` (certificate building and reading), and the monitor runs no ``site``
hooks. Each is checked in a fresh interpreter, as a real process would start.
"""

from __future__ import annotations

import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from types import MappingProxyType

import pytest

from symphony.cli.handoff import ADDED_ENV, HANDOFF_ENV, LEAN_CODE_ENV, _classes, _decode, _dump
from symphony.config import parse_config
from symphony.node.process.client import monitor_command
from symphony.node.process.lighttuple import NamedTuple
from symphony.node.process.monitor_server import parse_args
from symphony.node.process.spawn import _which
from tests.deployments.helpers import tear_down_node
from tests.deployments.onenode import one_node_cluster
from tests.jobs.harness import monitor_pid, monitor_request

#: Modules a node agent has no use for while it runs (each costs it MiB for good).
#: trio-websocket too: the link is our own WebSocket, and the library's import pulled in
#: importlib.metadata (with email, zipfile and csv: over 1 MiB kept for good).
NOT_IN_AGENT = (
    "cryptography", "pydantic", "quart", "hypercorn", "httpx", "quart_schema", "trio_websocket",
)  # fmt: skip
#: ... and those it loads only where used: unpacking an archive, a spec's mistake, a
#: download (http.client); and pickle (the handed-over configuration is marshal data).
NOT_IN_AGENT_IDLE = ("tarfile", "difflib", "uuid", "http", "pickle")
#: What the node monitor, which lives as long as the machine's jobs, does without:
#: argparse (with gettext and locale), shutil (with zlib, bz2 and lzma), traceback
#: (in the log forwarder it forks, only on a bug), random (at a jittered restart),
#: typing (see symphony.node.process.lighttuple) and hashlib (it maps OpenSSL's
#: libcrypto; used once a job has secrets to mask).
#: The monitor's own modules, which the agent has no use for.
MONITOR_ONLY = ("monitor_server", "monitor", "spawn", "joblogger", "logrelay", "runstore")
NOT_IN_MONITOR = (
    "argparse", "gettext", "locale", "shutil", "bz2", "lzma", "traceback", "random", "typing",
    "hashlib", "_hashlib",
)  # fmt: skip


def modules_after(code: str, *, top_level: bool = True) -> set[str]:
    """The top-level packages (or, without ``top_level``, all the modules) in
    ``sys.modules`` of a fresh interpreter after ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(result.stdout.splitlines()[-1])
    return {name.split(".")[0] for name in loaded} if top_level else set(loaded)


def test_the_node_runtime_imports_no_server_validation_or_certificate_library() -> None:
    loaded = modules_after(
        "import symphony.node, symphony.node.service, symphony.config, symphony.cli.handoff"
    )
    assert "trio" in loaded  # the probe did import the runtime
    assert sorted(set(NOT_IN_AGENT) & loaded) == []
    assert sorted(set(NOT_IN_AGENT_IDLE) & loaded) == []


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


async def test_a_running_node_agent_keeps_neither_pydantic_nor_cryptography(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``symphony node`` validates its configuration (pydantic), connects over TLS and
    reads its Conductor's name; what stays mapped in the agent once it is ready has
    neither library. It is the same process (pid, command line) the operator started,
    re-executed so that its code objects keep no column tables (the environment its
    image started with, ``/proc/PID/environ``, says so), and neither that variable nor
    the one that handed the configuration over is passed on."""
    monkeypatch.delenv("PYTHONNODEBUGRANGES", raising=False)
    conductor, agent, api = await one_node_cluster(tmp_path, capacity=1)
    try:
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
        assert "pydantic_core" not in maps and "cryptography" not in maps, agent.output()[-3000:]
        assert "/_pickle." not in maps  # the configuration came as marshal data
        command = Path(f"/proc/{agent.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        assert [part.decode() for part in command[-len(agent.args) :]] == agent.args
        started_with = Path(f"/proc/{agent.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONNODEBUGRANGES=1" in started_with
        # Its monitor (and so every job) started without the handover's variables.
        monitor = monitor_pid(str(tmp_path / "worker" / "jobs"))
        environ = Path(f"/proc/{monitor}/environ").read_bytes().split(b"\0")
        names = {HANDOFF_ENV, ADDED_ENV, *LEAN_CODE_ENV}
        assert [v for v in environ if v.split(b"=")[0].decode() in names] == []
    finally:
        await tear_down_node(agent, conductor, api, tmp_path / "worker" / "jobs")


def test_a_handed_over_configuration_must_be_what_the_command_itself_made(
    tmp_path: Path,
) -> None:
    """The variable names a descriptor; only an unlinked file (what ``symphony node``
    creates for its next image) is read, never a named file, pipe or terminal."""
    named = tmp_path / "config.pickle"
    named.write_bytes(b"not a pickle")
    with named.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "symphony.cli", "node", "--node-id", "x"],
            stdin=stdin,
            env={**os.environ, HANDOFF_ENV: "0"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"symphony: error: {HANDOFF_ENV}='0' is not a configuration handed over\n"
    )


def test_a_leader_conductor_does_not_load_the_standbys_http_client() -> None:
    """httpx (with the command-line extras it pulls in: rich, pygments) serves only a
    standby's forwarding; a Conductor that leads never needs it."""
    loaded = modules_after("import symphony.conductor, symphony.conductor.service")
    assert "quart" in loaded  # the probe did import the server
    assert sorted({"httpx", "rich", "pygments"} & loaded) == []


def test_the_node_monitor_imports_no_dataclasses_or_inspect(tmp_path: Path) -> None:
    """``dataclasses`` loads ``inspect`` (with ``ast``, ``dis`` and ``tokenize``): over a
    MiB that the monitor, which lives as long as the machine's jobs, would keep."""
    command = monitor_command(str(tmp_path))
    command[command.index("-c") + 1] = (
        "import json, sys, types\n"
        "for name, path in zip(('symphony', 'symphony.node'), sys.argv[1:3]):\n"
        "    package = types.ModuleType(name)\n"
        "    package.__path__ = [path]\n"
        "    sys.modules[name] = package\n"
        "import symphony.node.process.monitor_server as server\n"
        "assert server.parse_args(['--state-dir', 'x', '--daemon']) == ('x', True)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(result.stdout))
    assert "symphony.node.process.monitor" in loaded
    assert sorted({"dataclasses", "inspect", "trio"} & loaded) == []
    assert sorted(set(NOT_IN_MONITOR) & loaded) == []


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["--state-dir", "/s"], ("/s", False)),
        (["--daemon", "--state-dir=/s"], ("/s", True)),
        (["--state-dir"], None),
        (["--daemon"], None),
        (["--state-dir", "/s", "--verbose"], None),
        (["--state-dir", ""], None),
    ],
)
def test_the_monitor_reads_the_command_line_the_agent_writes(
    argv: list[str], parsed: tuple[str, bool] | None
) -> None:
    assert parse_args(argv) == parsed


def test_a_program_on_path_is_found_where_shutil_which_finds_it(tmp_path: Path) -> None:
    """What the monitor resolves by hand is what ``shutil.which(..., os.F_OK)`` says."""
    first, second, empty = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for directory in (first, second, empty):
        directory.mkdir()
    (second / "tool").write_text("")  # present, not executable: F_OK finds it
    (first / "tool").mkdir()  # a directory of that name is skipped
    (first / "other").write_text("")
    path = os.pathsep.join(map(str, [empty, first, second, first]))
    for name in ("tool", "other", "missing"):
        assert _which(name, path) == shutil.which(name, mode=os.F_OK, path=path)
    assert _which("tool", path) == str(second / "tool")


def test_the_agent_does_not_import_the_monitors_own_code() -> None:
    """The agent only talks to its monitor: spawning, log forwarding and the run store
    are the monitor's, and would stay resident in the agent for nothing."""
    loaded = modules_after("import symphony.node.service, symphony.cli.service", top_level=False)
    assert "symphony.node.process.client" in loaded
    monitor_side = {f"symphony.node.process.{name}" for name in MONITOR_ONLY}
    assert sorted(monitor_side & loaded) == []


def test_a_light_named_tuple_is_the_named_tuple_typing_makes() -> None:
    """The monitor's records (see ``lighttuple``) behave as ``typing.NamedTuple``'s."""

    class Light(NamedTuple):
        """A record."""

        restart: bool
        delay: float = 0.0
        reason: str | None = None

        def doubled(self) -> float:
            return 2 * self.delay

    class Typed(typing.NamedTuple):
        restart: bool
        delay: float = 0.0
        reason: str | None = None

    light, typed = Light(True, delay=1.5), Typed(True, delay=1.5)
    assert tuple(light) == tuple(typed) == (True, 1.5, None)
    assert Light._fields == Typed._fields and Light._field_defaults == Typed._field_defaults
    assert light._replace(reason="x") == (True, 1.5, "x")
    assert type(light._replace(reason="x")) is Light and light.doubled() == 3.0
    assert (
        Light.__doc__ == "A record."
        and repr(light) == "Light(restart=True, delay=1.5, reason=None)"
    )
    assert not hasattr(light, "__dict__")
    with pytest.raises(TypeError, match="without a default follows"):

        class Wrong(NamedTuple):
            first: int = 0
            second: int


def test_a_handed_over_configuration_comes_back_equal_and_nothing_else_is_read(
    tmp_path: Path,
) -> None:
    """The configuration crosses the ``exec`` as tagged marshal data: it comes back equal
    (read-only mappings, paths, tuples), and an entry of another kind is refused."""
    config = parse_config(
        {
            "mode": "node",
            "node": {
                "node_id": "n1",
                "conductor_addr": "localhost:5",
                "capacities_total": {"A": 3},
                "groups": ["g"],
                "tls": {"ca_file": "/ca", "cert_file": "/c", "key_file": "/k"},
            },
        },
        source=None,
        mode="node",
    )
    buffer = io.BytesIO()
    _dump(config, buffer)
    again = _decode(marshal.loads(buffer.getvalue()), _classes())
    assert again == config and isinstance(again.node.capacities_total, MappingProxyType)
    for bad in (("code", "import os"), ("dataclass", ("Path", ())), ("value", [1])):
        with pytest.raises((KeyError, ValueError)):
            _decode(bad, _classes())


def test_the_agents_second_image_builds_no_command_line_parser() -> None:
    """``symphony node``'s second image takes its configuration over without parsing
    flags: argparse (with gettext) stays out of the agent."""
    probe = (
        f"import os\nos.environ[{HANDOFF_ENV!r}] = '999'\n"
        "import symphony.cli, symphony.cli.service, symphony.node.service\n"
        "from symphony.cli import _app"
    )
    loaded = modules_after(probe, top_level=False)
    assert "symphony.cli.service" in loaded
    assert sorted({"argparse", "gettext"} & loaded) == []
