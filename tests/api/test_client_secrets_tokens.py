"""``Client`` and ``AsyncClient`` manage secrets and join tokens through the API's routes,
against a real Conductor: what ``symphony secret`` and ``symphony token`` do, from Python."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from symphony.client import ApiError, AsyncClient, Client

from .helpers import cluster


async def test_client_sets_lists_and_deletes_secrets(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:

        def scenario() -> None:
            api = Client(c.info.http_url, c.info.api_token)
            made = api.set_secret("hf-token", "first")
            assert (made["name"], made["created"]) == ("hf-token", True)
            assert api.set_secret("hf-token", "second")["created"] is False
            listed = api.list_secrets()
            assert [s["name"] for s in listed] == ["hf-token"]
            assert "value" not in listed[0] and "second" not in repr(listed)
            with pytest.raises(ApiError) as bad:
                api.set_secret("bad!", "x")
            assert bad.value.status == 422
            assert api.delete_secret("hf-token") == {"deleted": "hf-token"}
            with pytest.raises(ApiError) as gone:
                api.delete_secret("hf-token")
            assert gone.value.status == 404
            assert api.list_secrets() == []

        await trio.to_thread.run_sync(scenario)

        async with AsyncClient(c.info.http_url, c.info.api_token) as client:
            assert (await client.set_secret("db", "pw"))["created"] is True
            assert [s["name"] for s in await client.list_secrets()] == ["db"]
            assert (await client.delete_secret("db")) == {"deleted": "db"}


async def test_client_creates_lists_and_revokes_join_tokens(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:

        def scenario() -> None:
            api = Client(c.info.http_url, c.info.api_token)
            made = api.create_join_token(
                ttl_seconds=600, node_id="gpu-7", groups=["gpu", "gpu"], capacities={"A": 10}
            )
            assert made["token"].startswith(f"symjt1.{made['id']}.")
            assert made["single_use"] is True and made["ca_hash"].startswith("sha256:")
            assert (made["node_id"], made["groups"], made["capacities"]) == (
                "gpu-7",
                ["gpu"],
                {"A": 10},
            )
            assert "--node-id gpu-7" in made["join_command"]
            reusable = api.create_join_token(reusable=True)
            assert reusable["single_use"] is False and reusable["node_id"] is None
            listed = {t["id"]: t for t in api.list_join_tokens()}
            assert set(listed) == {made["id"], reusable["id"]}
            assert all("token" not in t for t in listed.values())  # never the secret
            assert api.revoke_join_token(made["id"]) == {"deleted": made["id"]}
            assert [t["id"] for t in api.list_join_tokens()] == [reusable["id"]]
            with pytest.raises(ApiError) as gone:
                api.revoke_join_token(made["id"])
            assert gone.value.status == 404
            with pytest.raises(TypeError, match="list of group names"):
                api.create_join_token(groups="gpu")

        await trio.to_thread.run_sync(scenario)

        async with AsyncClient(c.info.http_url, c.info.api_token) as client:
            made = await client.create_join_token(ttl_seconds=60)
            assert made["id"] in [t["id"] for t in await client.list_join_tokens()]
            assert (await client.revoke_join_token(made["id"])) == {"deleted": made["id"]}


async def test_a_whole_join_token_is_revoked_by_its_id_and_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``revoke_join_token`` and ``symphony token revoke`` given the whole token (what
    a user has at hand) send only its id, as ``kubeadm token delete`` does; the
    Conductor's 404 repeats nothing shaped like a secret, whatever the path holds."""
    from symphony.cli import main

    async with cluster(tmp_path, node=False) as c:
        monkeypatch.setenv("SYMPHONY_URL", c.info.http_url)
        monkeypatch.setenv("SYMPHONY_TOKEN", c.info.api_token)

        def scenario() -> None:
            api = Client(c.info.http_url, c.info.api_token)
            made = api.create_join_token(ttl_seconds=600)
            secret = made["token"].split(".")[2]
            assert api.revoke_join_token(made["token"]) == {"deleted": made["id"]}
            with pytest.raises(ApiError) as gone:
                api.revoke_join_token(made["token"])
            assert gone.value.status == 404 and secret[:4] not in str(gone.value)
            other = api.create_join_token(ttl_seconds=600)
            assert main(["token", "revoke", other["token"]]) == 0
            out, err = capsys.readouterr()
            assert out.strip() == f"revoked join token {other['id']}"
            assert other["token"].split(".")[2][:4] not in out + err

        await trio.to_thread.run_sync(scenario)
        # A whole token straight in the path (not through the Client): not repeated.
        leaked = "symjt1.0123456789abcdef.S3cr3tS3cr3tS3cr3t"
        response = await c.http.delete(f"/tokens/{leaked}")
        assert response.status_code == 404 and "S3cr3t" not in response.text
        response = await c.http.delete("/tokens/0123456789abcdef")
        assert response.status_code == 404 and "0123456789abcdef" in response.text
