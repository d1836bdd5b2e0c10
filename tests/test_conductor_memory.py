"""What a Conductor keeps resident: it serves without ``cryptography`` loaded, and
without what parsing its command line and validating its configuration loaded.

``cryptography`` (about 8 MiB a process keeps for good) builds and parses
certificates. A Conductor creates its certificates once (its first start: in a child
process), signs a node's certificate at a join, and opens sealed secrets; it does not
need the library to serve its API and its nodes, so it does not load it for that.
Nor does it need argparse, the other commands' modules or the configuration's built
models once it has its configuration: ``symphony conductor`` hands that over to a fresh
image of itself (``symphony/cli/handoff.py``). Each is checked in a real process, as it
starts.
"""

from __future__ import annotations

import io
import json
import marshal
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from symphony.cli.handoff import (
    ADDED_ENV,
    HANDOFF_ENV,
    LEAN_CODE_ENV,
    _classes,
    _decode,
    _dump,
)
from symphony.config import parse_config
from symphony.pki import (
    ca_fingerprint,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
)
from symphony.pki.certs import cert_to_pem
from tests.deployments.helpers import tear_down_node
from tests.deployments.onenode import one_node_cluster
from tests.deployments.procs import conductor as conductor_command
from tests.deployments.procs import free_port

#: The API's model modules a Conductor that served only ``GET /deployments`` has not loaded.
_API_MODELS_NOT_SERVED = (
    "models", "models_batch", "models_usage", "models_tokens", "models_secrets",
    "models_experiments", "models_logs", "models_live", "models_versions",
)  # fmt: skip
#: What the serving image of ``symphony conductor`` has no use for: the parser, every
#: command it does not run, the configuration's pydantic models, what only the API's
#: documentation needs (loaded by the first ``/openapi.json`` or ``/docs``) and the
#: proxies of experiments' services (loaded by the first visit or port-forward), the
#: API's models of answers (loaded with ``/openapi.json``) and the request models of
#: routes it has not served yet (tokens, secrets, experiments, logs, ``/live``, rollback).
NOT_IN_SERVING_CONDUCTOR = (
    "argparse",
    "symphony.cli.deploy",
    "symphony.cli.ps",
    "symphony.cli.up",
    "symphony.cli.completion",
    "symphony.config._file",
    "symphony.conductor.api.openapi",
    "symphony.conductor.api.routes_table",
    "symphony.conductor.api.docs_page",
    "symphony.conductor.api.proxy_http",
    "symphony.conductor.api.proxy_ws",
    "http.cookies",
    *(f"symphony.conductor.api.{name}" for name in _API_MODELS_NOT_SERVED),
    # The node's side of the link: a Conductor serves links with its own WebSocket.
    "symphony.wire.client",
    "trio_websocket",
    # Reading a configuration file and the command line's own helpers: the serving
    # image gets its configuration validated already.
    "symphony.config._load",
    "symphony.config._yaml",
    "symphony.cli._registry",
    "symphony.cli._reader",
    "symphony.cli._table",
    "symphony.cli.service_flags",
    # The API's WebSockets (a browser's live view, a followed log): at the first upgrade.
    "symphony.httpd._websocket",
    "symphony.httpd._deflate",
    # An experiment's models (pydantic classes, about 10 KiB each): with the first one.
    "symphony.spec._experiment",
    # What only a request of its kind uses: an experiment's view, a log's feed, the web
    # UI's live stream.
    "symphony.conductor.api.experiment_views",
    "symphony.conductor.api.logfeed",
    "symphony.conductor.api.live_feed",
    # Why an instance fits no node: worked out when one does not.
    "symphony.conductor.placement._reasons",
)


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_a_conductor_serving_a_node_has_not_loaded_cryptography(tmp_path: Path) -> None:
    """Started fresh (it creates its certificates), a node connected with the shared
    client certificate, the API answering: no ``cryptography`` mapped in the process."""
    conductor, agent, api = await one_node_cluster(tmp_path, capacity=1)
    try:
        assert (await api.http.get("/secrets")).status_code == 200
        maps = Path(f"/proc/{conductor.pid}/maps").read_text()
        assert "cryptography" not in maps, conductor.output()[-3000:]
        assert (tmp_path / "conductor" / "certs" / "ca.key").exists()
    finally:
        await tear_down_node(agent, conductor, api, tmp_path / "worker" / "jobs")


def test_creating_certificates_apart_leaves_this_process_without_cryptography(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    out = _run(
        "import sys\n"
        "from symphony.pki.apart import ensure_conductor_pki_apart\n"
        f"pki = ensure_conductor_pki_apart({str(certs)!r}, hosts=['10.1.2.3'])\n"
        "print(pki.ca_fingerprint)\n"
        "print('cryptography' in sys.modules)\n"
    )
    fingerprint, loaded = out.split()
    assert loaded == "False"
    # The files are what ensure_conductor_pki itself makes and checks.
    pki = ensure_conductor_pki(certs, hosts=["10.1.2.3"])
    assert pki.ca_fingerprint == fingerprint
    assert sorted(p.name for p in certs.iterdir()) == [
        ".symphony-dir",  # a directory Symphony made: see symphony.owndir
        "ca.key", "ca.pem", "node-client.key", "node-client.pem", "server.key", "server.pem",
    ]  # fmt: skip


def test_a_ca_read_from_files_is_parsed_only_to_sign(tmp_path: Path) -> None:
    """Loading existing files checks them with ssl alone; the CA's PEM and fingerprint
    are what ``cryptography`` makes of them, and it still signs a node's certificate."""
    made = ensure_conductor_pki(tmp_path / "certs")
    out = _run(
        "import sys\n"
        "from symphony.pki import ensure_conductor_pki\n"
        f"pki = ensure_conductor_pki({str(tmp_path / 'certs')!r})\n"
        "print(pki.ca_fingerprint, pki.ca.cert_pem.hex(), 'cryptography' in sys.modules)\n"
    )
    fingerprint, pem_hex, loaded = out.split()
    assert loaded == "False"
    from cryptography import x509

    parsed = x509.load_pem_x509_certificate(made.ca_file.read_bytes())
    assert fingerprint == ca_fingerprint(made.ca_file.read_bytes())
    assert bytes.fromhex(pem_hex) == cert_to_pem(parsed)
    again = ensure_conductor_pki(tmp_path / "certs")
    _, csr = make_node_key_and_csr("gpu-7")
    cert = x509.load_pem_x509_certificate(issue_node_certificate(again.ca, csr, "gpu-7"))
    assert cert.issuer == parsed.subject


def test_a_serving_conductor_has_no_parser_commands_or_configuration_models(
    tmp_path: Path,
) -> None:
    """``symphony conductor`` validates its flags and configuration, then re-executes
    itself: the image that serves (the same pid) never loaded the parser, the other
    commands or the configuration's models, and its code objects have no column tables
    (the variable that asked for that is not passed on to what it starts). A
    ``sitecustomize`` records what the image that stops has loaded (the first image
    leaves by ``exec``, which runs no ``atexit``)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    record = tmp_path / "modules.json"
    (hooks / "sitecustomize.py").write_text(
        "import atexit, json, os, sys\n"
        "def _record():\n"
        f"    with open({str(record)!r}, 'w') as f:\n"
        "        code = compile('x', 'x', 'eval')\n"
        "        json.dump({'pid': os.getpid(), 'modules': sorted(sys.modules),\n"
        "                   'columns': [p[2:] for p in code.co_positions()],\n"
        "                   'env': sorted(os.environ)}, f)\n"
        "atexit.register(_record)\n"
    )
    http_port = free_port()
    service = conductor_command(
        tmp_path, node_port=free_port(), http_port=http_port, node_timeout=30
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), *sys.path])}
    env.pop("PYTHONNODEBUGRANGES", None)
    with service.log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "symphony.cli", *service.args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, service.output()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/deployments") as r:
                    assert json.load(r) == {"deployments": []}
                break
            except OSError:
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, service.output()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    loaded = json.loads(record.read_text())
    assert loaded["pid"] == proc.pid
    assert "symphony.conductor.service" in loaded["modules"]  # it did serve
    assert sorted(set(NOT_IN_SERVING_CONDUCTOR) & set(loaded["modules"])) == []
    assert loaded["columns"] == [[None, None]] * len(loaded["columns"])
    assert sorted({HANDOFF_ENV, ADDED_ENV, *LEAN_CODE_ENV} & set(loaded["env"])) == []


def test_a_conductors_configuration_with_every_key_crosses_the_exec_equal() -> None:
    """Every key of a Conductor's configuration is of a kind the hand-over carries
    (paths, tuples, plain values): it comes back equal, so the serving image runs with
    exactly what the first image validated."""
    config = parse_config(
        {
            "mode": "conductor",
            "logging": {"level": "DEBUG", "json": True},
            "conductor": {
                "listen": "0.0.0.0:6000",
                "tls": {"cert_path": "/certs", "advertise": ["c.example", "10.0.0.1"]},
                "state_dir": "/state",
                "http": {"listen": "127.0.0.1:8001", "auth": "none", "allowed_hosts": ["h"]},
                "node_timeout_sec": 12.5,
                "events": {"keep_per_deployment": 7, "max_age_sec": None},
                "secrets_key_file": "/key",
                "store": {"url": "postgresql://u@db/symphony", "lease_seconds": 4},
                "relay": {"port": 9001, "url": "https://apps.example.com"},
            },
        },
        source=None,
        mode="conductor",
    )
    buffer = io.BytesIO()
    _dump(config, buffer)
    again = _decode(marshal.loads(buffer.getvalue()), _classes())
    assert again == config and again.conductor is not None
    assert again.conductor.store_url == "postgresql://u@db/symphony"


_SQLITE_MEMORY = (
    "import ctypes, sys, _sqlite3\n"
    "from symphony.conductor.store import Store\n"
    "try:\n"
    "    # The SQLite this sqlite3 module runs on: its own symbols or its library's.\n"
    "    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used\n"
    "except AttributeError:\n"
    "    print('unknown'); sys.exit()\n"
    "used.restype = ctypes.c_int64\n"
    "store = Store.open(sys.argv[1])\n"
    "print(used())\n"
)


def test_a_new_stores_migrations_leave_nothing_in_its_connection(tmp_path: Path) -> None:
    """Migrating a new database runs some fifty statements once; the connection that
    serves does not keep them prepared (about 0.25 MiB of a Conductor that idles). What
    SQLite holds is the same for a store opened on a new database as on one migrated
    already."""
    path = str(tmp_path / "symphony.db")
    new, again = (
        subprocess.run(
            [sys.executable, "-c", _SQLITE_MEMORY, path],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout.strip()
        for _ in range(2)
    )  # fmt: skip
    if new == "unknown":
        pytest.skip("this sqlite3 module does not expose SQLite's memory count")
    assert int(new) - int(again) < 64 * 1024, (new, again)
