"""symphony.client against a real Conductor and node: Client (in a thread) and AsyncClient."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

import symphony.client
from symphony.client import (
    ApiError,
    AsyncClient,
    Client,
    ConductorUnreachable,
    find_conductor,
    find_token,
)

from .helpers import cluster, sh


def test_client_public_names_come_from_private_modules() -> None:
    """The set itself is pinned in tests/test_public_api.py; here: where each name lives."""
    for name in symphony.client.__all__:
        value = getattr(symphony.client, name)
        assert value.__module__.startswith("symphony.client._"), name
        assert value.__doc__, name


def test_client_import_is_cheap() -> None:
    code = "import sys, symphony.client; print('httpx' in sys.modules, 'quart' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_client_finds_url_and_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMPHONY_URL", raising=False)
    monkeypatch.delenv("SYMPHONY_TOKEN", raising=False)
    monkeypatch.delenv("SYMPHONY_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_conductor() == "http://127.0.0.1:8000"
    assert find_token() is None
    state = tmp_path / ".symphony"
    state.mkdir()
    (state / "conductor.json").write_text(json.dumps({"url": "http://127.0.0.1:9999/"}))
    (state / "api-token").write_text("from-file\n")
    assert find_conductor() == "http://127.0.0.1:9999"
    assert find_token() == "from-file"
    monkeypatch.setenv("SYMPHONY_URL", "10.0.0.1:8000")
    monkeypatch.setenv("SYMPHONY_TOKEN", "from-env")
    assert find_conductor() == "http://10.0.0.1:8000"
    assert find_token() == "from-env"
    assert find_conductor("https://c.example:8443/") == "https://c.example:8443"
    assert find_token("from-arg") == "from-arg"
    (state / "conductor.json").write_text("{not json")
    monkeypatch.delenv("SYMPHONY_URL")
    assert find_conductor() == "http://127.0.0.1:8000"
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "conductor.json").write_text(json.dumps({"url": "http://127.0.0.1:7"}))
    assert find_conductor(state_dir=other) == "http://127.0.0.1:7"
    with pytest.raises(ValueError, match="http"):
        Client("ftp://x")


def test_client_errors_are_one_clear_line() -> None:
    detail = [{"path": "config.command", "message": "required"},
              {"path": "replicas", "message": "too\nmany"}]  # fmt: skip
    error = ApiError(422, "invalid spec", detail)
    assert str(error) == "422 invalid spec: config.command: required; replicas: too many"
    assert (
        str(ApiError(404, "not found", "no deployment 'x'")) == "404 not found: no deployment 'x'"
    )
    assert str(ApiError(500, "internal error")) == "500 internal error"


def test_client_unreachable_conductor_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", token="t")
    with pytest.raises(ConductorUnreachable) as caught:
        client.list_deployments()
    assert str(caught.value).startswith(f"cannot reach the Conductor at http://127.0.0.1:{port}")
    assert "refused" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


async def test_client_async_unreachable_conductor_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", token="t") as client:
        with pytest.raises(ConductorUnreachable, match="cannot reach the Conductor"):
            await client.nodes()


async def test_client_sync_and_async_drive_a_deployment(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        url, token = c.info.http_url, c.info.api_token
        flag = tmp_path / "flag"
        script = (f"echo one; echo err >&2; while [ ! -e {flag} ]; do sleep 0.02; done; "
                  "echo two; sleep 30")  # fmt: skip

        def sync_part() -> list[str]:
            client = Client(url, token)
            assert client.health()["status"] == "ok"
            assert [n["node_id"] for n in client.nodes()] == ["n1"]
            created = client.create_deployment(sh(script, "web"))
            assert created["name"] == "web"
            with pytest.raises(ApiError) as conflict:
                client.create_deployment(sh(script, "web"))
            assert conflict.value.status == 409 and conflict.value.error == "name conflict"
            with pytest.raises(ApiError) as invalid:
                client.create_deployment({"config": {}})
            assert invalid.value.status == 422
            assert invalid.value.detail[0]["path"] == "config.command"
            with pytest.raises(ApiError, match="404 not found"):
                client.get_deployment("nope")
            assert [d["name"] for d in client.list_deployments()] == ["web"]
            with pytest.raises(ApiError, match="401"):
                Client(url, token="wrong").list_deployments()
            return [line for line in client.logs("web").splitlines()]

        await trio.to_thread.run_sync(sync_part)
        await c.wait_running("web")

        def follow() -> list[str]:
            client = Client(url, token)
            for _ in range(500):  # the job writes just after it starts
                if client.logs("web", stream="stderr") == "err\n":
                    break
                time.sleep(0.02)
            lines = []
            for line in client.follow_logs("web"):
                lines.append(line)
                if line == "one":
                    flag.touch()  # "two" is written only now
                if line == "two":
                    break
            return lines

        with trio.fail_after(15):
            assert await trio.to_thread.run_sync(follow) == ["one", "two"]

        async with AsyncClient(url, token) as client:
            assert (await client.get_deployment("web"))["state"] == "running"
            assert await client.logs("web", tail=1) == "two\n"
            assert await client.logs("web", stream="stderr", instance=0) == "err\n"
            seen = []
            with trio.fail_after(10), trio.CancelScope() as reading:
                async for line in client.follow_logs("web", tail=2):
                    seen.append(line)
                    if len(seen) == 2:
                        reading.cancel()
            assert seen == ["one", "two"]
            events = await client.events("web")
            assert events[0]["kind"] == "created"
            assert await client.events("web", after=events[-1]["id"]) == []
            assert len(await client.events("web", limit=1)) == 1
            assert "symphony_nodes" in await client.metrics()
            stopped = await client.update_deployment("web", {"desired_state": "stopped"})
            assert stopped["desired_state"] == "stopped"
            with pytest.raises(ApiError, match=r"409|422"):
                await client.create_deployment(sh("true", "web"))
            assert (await client.delete_deployment("web"))["name"] == "web"
            assert await client.list_deployments() == []
