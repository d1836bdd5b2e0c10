"""Who is let through to a service: the same admission on the relay port and the API port.

A visit code is spent by an HTTP request only (it answers with the cookie); a WebSocket
needs the cookie or the token. Otherwise any page of the relay origin (another service's)
could open a service's WebSocket by adding a code of any value to its address.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

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


SPEC = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}


async def test_api_port_refuses_the_relay_port_under_every_name_of_this_machine(
    tmp_path: Path,
) -> None:
    # With auth off (loopback) the Origin check is what keeps pages out of the API; the
    # Host check takes every loopback name, so a service's page may name another one.
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        assert c.info.relay_url is not None
        relay_port = urlsplit(c.info.relay_url).port
        api_port = urlsplit(c.info.http_url).port
        for origin_host in ("127.0.0.1", "localhost", "localhost.", "[::1]", "LocalHost"):
            for host in ("127.0.0.1", "localhost", "[::1]"):
                headers = {
                    "Origin": f"http://{origin_host}:{relay_port}",
                    "Host": f"{host}:{api_port}",
                }
                refused = await c.http.post("/deployments", json=SPEC, headers=headers)
                assert refused.status_code == 403, (origin_host, host, refused.text)
                assert "relayed service" in refused.json()["detail"]
        from_ui = {"Origin": f"http://localhost:{api_port}", "Host": f"127.0.0.1:{api_port}"}
        assert (await c.http.post("/deployments", json=SPEC, headers=from_ui)).status_code == 201


async def test_api_port_refuses_the_configured_relay_origin(tmp_path: Path) -> None:
    # Behind a reverse proxy the services' pages come from conductor.relay.url's origin:
    # an allowed host (the proxy forwards it), so only this check keeps them out.
    proxied = "https://apps.example.com"
    async with cluster(
        tmp_path,
        node=False,
        http_auth="none",
        relay_url=proxied,
        http_allowed_hosts=("apps.example.com", "symphony.example.com"),
    ) as c:
        # Any scheme and port of the relay's host name: the proxy may serve plain HTTP.
        relay_host = (
            proxied,
            "https://APPS.example.com",
            "https://apps.example.com:443",
            "http://apps.example.com",
            "http://apps.example.com:8080",
        )
        for origin in relay_host:
            refused = await c.http.post("/deployments", json=SPEC, headers={"Origin": origin})
            assert refused.status_code == 403, (origin, refused.text)
            assert "relayed service" in refused.json()["detail"]
            assert (await c.http.get("/deployments", headers={"Origin": origin})).status_code == 403
        ui = {"Origin": "https://symphony.example.com"}
        assert (await c.http.post("/deployments", json=SPEC, headers=ui)).status_code == 201


async def test_with_auth_none_the_api_port_sends_every_service_request_to_the_relay_port(
    tmp_path: Path,
) -> None:
    # Without a token nothing tells a program from a browser that sends no Sec-Fetch-*
    # headers (older ones): both go to the relay port, so no page of a service ever
    # runs on the API's origin.
    async with cluster(tmp_path, node_overrides=ports(), http_auth="none") as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        relay = c.info.relay_url
        assert relay is not None
        async with httpx.AsyncClient(base_url=relay) as there:
            await wait_served(there, "/x/web/ui/prefix")
        moved = await c.http.get("/x/web/ui/prefix?a=1")  # no Sec-Fetch-*: an old browser
        assert moved.status_code == 307
        assert moved.headers["location"] == relay + "/x/web/ui/prefix?a=1"
        posted = await c.http.post("/x/web/ui/prefix", content=b"x")
        assert posted.status_code == 307  # a 307 keeps the method and the body
        # A program follows the redirect and is served.
        followed = await c.http.get("/x/web/ui/prefix", follow_redirects=True)
        assert followed.status_code == 200 and followed.text == "/x/web/ui"
        # A WebSocket is not redirected: refused, saying where to go.
        ws = await c.http.get("/x/web/ui/echo", headers=UPGRADE)
        assert ws.status_code == 403 and relay in ws.json()["detail"]
        assert await _echo(relay.replace("http://", "ws://") + "/x/web/ui/echo", []) == "echo:hi"


async def _raw_get(url: str, target: str, headers: str) -> bytes:
    """The head of the answer to ``GET target`` sent as it is (no client normalizes it)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        head = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{headers}Connection: close\r\n\r\n"
        )
        await stream.send_all(head.encode())
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                answer += chunk
    return answer.split(b"\r\n\r\n", 1)[0]


async def test_the_redirect_to_the_relay_port_is_a_well_formed_address(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert c.info.relay_url is not None
        cookie = "Cookie: symphony_visit=x\r\n"
        for target in ("%2Fx/web/ui/prefix?a=1", "/%78/web/ui/prefix?a=1"):
            head = await _raw_get(c.info.http_url, target, cookie)
            assert head.startswith(b"HTTP/1.1 307"), (target, head)
            location = c.info.relay_url + "/x/web/ui/prefix?a=1"
            assert f"\r\nlocation: {location}".encode() in head.lower(), (target, head)
