"""Who is let through to a service: the same admission on the relay port and the API port.

A visit code is spent by an HTTP request only (it answers with the cookie); a WebSocket
needs the cookie or the token. Otherwise any page of the relay origin (another service's)
could open a service's WebSocket by adding a code of any value to its address.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
import trio_websocket

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def _echo(url: str, headers: list[tuple[bytes, bytes]]) -> str:
    """The echo of "hi" through the WebSocket at ``url``."""
    async with trio_websocket.open_websocket_url(url, extra_headers=headers) as ws:
        await ws.send_message("hi")
        with trio.fail_after(10):
            return str(await ws.get_message())


async def test_a_websocket_needs_the_cookie_or_the_token_not_a_code(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert c.info.relay_url is not None
        link = (await c.http.post("/experiments/web/services/ui/visit")).json()
        unspent = link["url"].rsplit("=", 1)[1]
        for base in (c.info.relay_url, c.info.http_url):
            origin = {"Origin": c.info.relay_url}
            async with httpx.AsyncClient(base_url=base) as page:  # another service's page
                for query in ("?symphony-visit=bogus", f"?symphony-visit={unspent}", ""):
                    answer = await page.get("/x/web/ui/echo" + query, headers={**UPGRADE, **origin})
                    assert answer.status_code in (401, 403), (base, query, answer)
            url = base.replace("http://", "ws://") + "/x/web/ui/echo"
            # A program with the token is served on both ports.
            token = [(b"Authorization", c.http.headers["Authorization"].encode())]
            assert await _echo(url + "?symphony-visit=bogus", token) == "echo:hi", base
        # The code was not spent by the refused WebSockets: the browser still gets in.
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(link["url"])).status_code == 303
