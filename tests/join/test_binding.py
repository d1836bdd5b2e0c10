"""A join token binds a node id, groups and capacities: at the join and at every hello."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import trio
from pydantic import ValidationError

from symphony.cli import main
from symphony.cli._app import build_parser
from symphony.cli.service import node_config
from symphony.conductor.api.models import TokenRequest
from symphony.conductor.binding import JoinBinding
from symphony.node.enroll import enroll
from symphony.wire import Hello, HelloRefused, client_hello, connect_to_conductor
from symphony.wire.errors import JoinNotAllowed, JoinTokenUsed

from .helpers import api, create_token, start_conductor, start_node, wait_ready
from .test_refusals import token_state

BOUND = {"node_id": "gpu-7", "groups": ["gpu", "big"], "capacities": {"Analytic1": 10}}


async def join(info: Any, created: dict[str, Any], tmp_path: Path, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": info.node_port,
        "token": created["token"],
        "ca_hash": created["ca_hash"],
        "node_id": "gpu-7",
        "state_dir": tmp_path / "gpu-7",
    }
    fields.update(kw)
    return await enroll(**fields)


async def hello_answer(info: Any, identity: Any, **claims: Any) -> str | None:
    """Connect with the joined node's certificate and say hello claiming ``claims``;
    None if accepted, else the Conductor's refusal."""
    hello = Hello(protocol_version=3, node_id=identity.node_id, **claims)
    async with connect_to_conductor("127.0.0.1", info.node_port, identity.ssl_context()) as conn:
        try:
            await client_hello(conn, hello, timeout=5)
        except HelloRefused as refused:
            return refused.reason
    return None


@pytest.mark.parametrize(
    ("claim", "says"),
    [
        ({"node_id": "gpu-8"}, "it binds node id 'gpu-7', not 'gpu-8'"),
        ({"groups": ["gpu", "cpu"]}, "it allows the groups gpu, big; not cpu"),
        ({"capacities": {"Analytic1": 11}}, "it allows Analytic1=10; not Analytic1=11"),
        ({"capacities": {"Other": 1}}, "it allows the capacities Analytic1=10; not Other"),
    ],
)
async def test_join_binding_refuses_another_claim_and_spends_nothing(
    tmp_path: Path, claim: dict[str, Any], says: str
) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, **BOUND)
        with pytest.raises(JoinNotAllowed) as refused:
            await join(info, created, tmp_path, **claim)
        assert says in str(refused.value)
        assert str(refused.value).endswith("or create another token with 'symphony token create'")
        assert (await token_state(info, created["id"]))["usable"] is True
        # Less than the token allows is fine: a subset of the groups, a smaller amount.
        await join(info, created, tmp_path, groups=["gpu"], capacities={"Analytic1": 4})
        with pytest.raises(JoinTokenUsed):
            await join(info, created, tmp_path)
        nursery.cancel_scope.cancel()


async def test_join_binding_holds_at_every_hello(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, **BOUND)
        # A version-2 node says nothing of its groups when it joins...
        identity = await join(info, created, tmp_path, groups=None, capacities=None)
        # ...so its hellos are where the binding bites, at once and after any edit.
        refusal = await hello_answer(info, identity, groups=("gpu", "cpu"))
        assert refusal is not None and "does not allow it: it allows the groups" in refusal
        refusal = await hello_answer(info, identity, capacities_total={"Analytic1": 500})
        assert refusal is not None and "Analytic1=10; not Analytic1=500" in refusal
        ok = await hello_answer(info, identity, groups=("big",), capacities_total={"Analytic1": 9})
        assert ok is None
        nursery.cancel_scope.cancel()


async def test_join_unbound_token_leaves_the_node_free(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info)
        assert created["node_id"] is None and created["groups"] is None
        identity = await join(info, created, tmp_path, node_id="free-1")
        ok = await hello_answer(info, identity, groups=("any",), capacities_total={"X": 99})
        assert ok is None
        nursery.cancel_scope.cancel()


async def test_join_tokens_api_binding_fields(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, **BOUND)
        assert {k: created[k] for k in BOUND} == BOUND
        words = shlex.split(created["join_command"])
        assert words[words.index("--node-id") + 1] == "gpu-7"
        assert words[words.index("--conductor") + 1] == f"127.0.0.1:{info.node_port}"
        assert [words[i + 1] for i, w in enumerate(words) if w == "--group"] == ["gpu", "big"]
        assert "--capacity" in words and "Analytic1=10" in words
        listed = (await api(info, "GET", "/tokens")).json()["tokens"]
        assert {k: listed[0][k] for k in BOUND} == BOUND
        # Refused by the request model, each naming the field in the API's usual detail.
        for body, path, says in [
            ({"node_id": "bad id!"}, "node_id", "must match"),
            ({"node_id": "node-client"}, "node_id", "reserved"),
            ({"node_id": "a..b"}, "node_id", "'..'"),
            ({"node_id": "x\n"}, "node_id", "must match"),
            ({"node_id": 7}, "node_id", "must be a string"),
            ({"groups": "gpu"}, "groups", "must be a list"),
            ({"groups": ["ok", ""]}, "groups[1]", "must match"),
            ({"groups": ["g"] * 257}, "groups", "at most 256"),
            ({"capacities": {"A": -1}}, "capacities.A", "at least 0"),
            ({"capacities": {"A": True}}, "capacities.A", "not a boolean"),
            ({"capacities": {"A": 10**12 + 1}}, "capacities.A", "at most"),
            ({"capacities": {"1bad": 1}}, "capacities.1bad", "must match"),
            ({"capacities": [1]}, "capacities", "must be an object"),
        ]:
            response = await api(info, "POST", "/tokens", json=body)
            assert response.status_code == 422, (body, response.text)
            detail = response.json()["detail"]
            assert [d["path"] for d in detail] == [path], (body, detail)
            assert says in detail[0]["message"], (body, detail)
        nursery.cancel_scope.cancel()


async def test_join_cli_token_create_with_binding_prints_a_complete_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        monkeypatch.setenv("SYMPHONY_URL", info.http_url)
        monkeypatch.setenv("SYMPHONY_TOKEN", (info.state_dir / "api-token").read_text().strip())
        argv = ["token", "create", "--node-id", "gpu-7", "--group", "gpu", "--group", "big"]
        argv += ["--capacity", "Analytic1=10"]
        assert await trio.to_thread.run_sync(main, argv) == 0
        out = capsys.readouterr().out
        assert "binds: node gpu-7, groups gpu,big, capacities Analytic1=10" in out
        line = next(x.strip() for x in out.splitlines() if x.strip().startswith("symphony node"))
        # The printed line, run as printed (plus where to keep state), gives a node that
        # offers exactly what the token binds.
        args = build_parser().parse_args([*shlex.split(line)[1:], "--state-dir", "n"])
        config = node_config(args).node
        await start_node(nursery, config)
        node = await wait_ready(info, "gpu-7")
        assert node["groups"] == ["gpu", "big"]
        assert node["capacities_total"] == {"Analytic1": 10}
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "body",
    [
        {"node_id": "gpu-7"},
        {"node_id": "a.b_c-9"},
        {"node_id": "x" * 63},
        {"node_id": "x" * 64},
        {"node_id": "-x"},
        {"node_id": "a..b"},
        {"node_id": "node-client"},
        {"node_id": "x\n"},
        {"node_id": ""},
        {"groups": []},
        {"groups": ["gpu", "9.a_b-c"]},
        {"groups": ["_x"]},
        {"groups": ["g"] * 256},
        {"groups": ["g"] * 257},
        {"capacities": {"Analytic1": 0, "b.c_d-e": 10**12}},
        {"capacities": {"A": 10**12 + 1}},
        {"capacities": {"9a": 1}},
        {"capacities": {"A": -1}},
        {"capacities": {"A": 1.0}},
        {"capacities": {f"c{i}": 1 for i in range(257)}},
    ],
)
def test_join_token_request_model_keeps_the_wire_rules(body: dict[str, Any]) -> None:
    """The API's request model states the binding rules as pydantic constraints (so the
    OpenAPI document shows them); they must accept exactly what the wire's rules do."""
    try:
        TokenRequest.model_validate(body)
        model_ok = True
    except ValidationError:
        model_ok = False
    try:
        JoinBinding.parse(body)
        wire_ok = True
    except ValueError:
        wire_ok = False
    assert model_ok == wire_ok, body
