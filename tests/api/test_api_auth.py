"""The API token: made once with mode 0600, required everywhere but /healthz and /docs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from symphony.conductor.api.auth import ensure_api_token, token_matches

from .helpers import cluster

PROTECTED = ["/nodes", "/deployments", "/deployments/x", "/deployments/x/logs",
             "/deployments/x/events", "/metrics", "/openapi.json", "/no/such/path"]  # fmt: skip


async def test_api_auth_token_file_is_private_and_reused(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        token_file = tmp_path / "conductor" / "api-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().strip() == c.info.api_token
        address = json.loads((tmp_path / "conductor" / "conductor.json").read_text())
        assert address["url"] == c.info.http_url
        first = c.info.api_token
    # A clean stop removes the address; a restart reuses the token.
    assert not (tmp_path / "conductor" / "conductor.json").exists()
    async with cluster(tmp_path, node=False) as c:
        assert c.info.api_token == first
        assert (await c.http.get("/nodes")).status_code == 200


async def test_api_auth_refuses_missing_or_wrong_tokens(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        token = c.info.api_token
        assert token
        async with httpx.AsyncClient(base_url=c.info.http_url) as anon:
            for header in (None, f"Bearer {token}x", f"Bearer {token[:-1]}", f"Basic {token}",
                           token, "Bearer", f"bearer  {token}extra"):  # fmt: skip
                headers = {"Authorization": header} if header is not None else {}
                for path in PROTECTED:
                    response = await anon.get(path, headers=headers)
                    assert response.status_code == 401, (header, path, response.text)
                    assert response.json()["error"] == "unauthorized"
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
                response = await anon.post("/deployments", headers=headers, json={})
                assert response.status_code == 401
            assert (await anon.get("/healthz")).status_code == 200
            docs = await anon.get("/docs")
            assert docs.status_code == 200 and "<html" in docs.text
            ok = await anon.get("/nodes", headers={"Authorization": f"bearer {token}"})
            assert ok.status_code == 200


async def test_api_auth_none_needs_no_token(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        assert c.info.api_token is None
        assert not (tmp_path / "conductor" / "api-token").exists()
        async with httpx.AsyncClient(base_url=c.info.http_url) as anon:
            for path in ("/nodes", "/deployments", "/metrics", "/openapi.json"):
                assert (await anon.get(path)).status_code == 200, path


def test_api_auth_empty_token_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        ensure_api_token(tmp_path)


def test_api_auth_header_parsing() -> None:
    assert token_matches("Bearer abc", "abc")
    assert token_matches("BEARER abc ", "abc")
    for header in (None, "", "abc", "Bearer", "Bearer abd", "Token abc", "Bearer é"):
        assert not token_matches(header, "abc"), header
