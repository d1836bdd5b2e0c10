"""A token that does not name a node id cannot enrol an id that is enrolled already:
only a token bound to that id (a machine rebuilt) enrols it again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.node.enroll import enroll
from symphony.wire.errors import JoinNotAllowed, NodeIdEnrolled

from .helpers import create_token, join_node, start_conductor, start_node, wait_ready
from .test_binding import BOUND, hello_answer
from .test_refusals import token_state


async def join(info: Any, created: dict[str, Any], state_dir: Path, node_id: str) -> Any:
    return await enroll(
        host="127.0.0.1",
        port=info.node_port,
        token=created["token"],
        ca_hash=created["ca_hash"],
        node_id=node_id,
        state_dir=state_dir,
    )


@pytest.mark.parametrize("reusable", [True, False])
async def test_join_unbound_token_cannot_take_over_an_enrolled_id(
    tmp_path: Path, reusable: bool
) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        owner = await join(info, await create_token(info, **BOUND), tmp_path / "owner", "gpu-7")
        config = join_node(info, "gpu-7", tmp_path / "owner", None, groups=("gpu",))
        await start_node(nursery, config)
        await wait_ready(info, "gpu-7")
        created = await create_token(info, reusable=reusable)
        with pytest.raises(NodeIdEnrolled) as refused:
            await join(info, created, tmp_path / "thief", "gpu-7")
        message = str(refused.value)
        assert "node id 'gpu-7' is enrolled already" in message
        assert message.endswith("with its --group and --capacity again)"), message
        assert isinstance(refused.value, JoinNotAllowed)  # what callers caught before
        assert not (tmp_path / "thief" / "identity").exists()
        # Nothing changed: the token is not spent, the owner keeps its binding.
        assert (await token_state(info, created["id"]))["usable"] is True
        refusal = await hello_answer(info, owner, groups=("cpu",))
        assert refusal is not None and "it allows the groups gpu, big; not cpu" in refusal
        # The same token still enrols a new id.
        await join(info, created, tmp_path / "new", "gpu-9")
        nursery.cancel_scope.cancel()


async def test_join_reusable_token_enrols_an_id_once(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, reusable=True)
        other = await create_token(info, reusable=True)
        await join(info, created, tmp_path / "a", "a")  # never said hello: still enrolled
        with pytest.raises(NodeIdEnrolled, match="node id 'a' is enrolled already"):
            await join(info, other, tmp_path / "a2", "a")
        nursery.cancel_scope.cancel()


async def test_join_whose_answer_was_lost_is_tried_again_with_its_token(
    tmp_path: Path,
) -> None:
    """The join committed but its node never kept the certificate (the answer was lost,
    the node crashed): the same token enrols the id again while no node said hello as
    it; once one has, the id is taken even for that token."""
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, reusable=True)
        await join(info, created, tmp_path / "lost", "a")
        await join(info, created, tmp_path / "retried", "a")
        await start_node(nursery, join_node(info, "a", tmp_path / "retried", None))
        await wait_ready(info, "a")
        with pytest.raises(NodeIdEnrolled, match="node id 'a' is enrolled already"):
            await join(info, created, tmp_path / "thief", "a")
        nursery.cancel_scope.cancel()


async def test_join_id_of_a_node_with_files_of_its_own_is_enrolled(tmp_path: Path) -> None:
    """An id a node has said hello as (here with the shared certificate) is taken too."""
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        certs = info.cert_dir
        files = {
            "ca_file": certs / "ca.pem",
            "cert_file": certs / "node-client.pem",
            "key_file": certs / "node-client.key",
        }
        await start_node(nursery, join_node(info, "legacy", tmp_path / "legacy", None, **files))
        await wait_ready(info, "legacy")
        with pytest.raises(NodeIdEnrolled, match="node id 'legacy' is enrolled already"):
            await join(info, await create_token(info), tmp_path / "thief", "legacy")
        await join(info, await create_token(info, node_id="legacy"), tmp_path / "new", "legacy")
        nursery.cancel_scope.cancel()


async def test_join_token_bound_to_the_id_enrols_it_again(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await join(info, await create_token(info, **BOUND), tmp_path / "old", "gpu-7")
        # The machine is rebuilt: a token bound to its id (and nothing else) enrols it
        # again, and its binding is now that token's.
        again = await create_token(info, node_id="gpu-7")
        identity = await join(info, again, tmp_path / "rebuilt", "gpu-7")
        assert await hello_answer(info, identity, groups=("cpu",)) is None
        nursery.cancel_scope.cancel()
