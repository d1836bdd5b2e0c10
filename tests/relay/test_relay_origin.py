"""Services under /x/ have an origin of their own: the relay port, apart from the web UI's.

A service's page runs its deployer's scripts; on the web UI's origin they could read
the UI's token, frame /ui/ and call the API as the user. So browsers reach services
on the relay port only, which serves nothing but /x/.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import trio
import trio_websocket

from ..api.helpers import cluster
from ..ha.cluster import start_pair
from .helpers import ports, wait_served, web_experiment

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def test_relay_port_serves_services_and_nothing_else(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        relay = c.info.relay_url
        assert relay is not None and urlsplit(relay).port != urlsplit(c.info.http_url).port
        token = {"Authorization": c.http.headers["Authorization"]}
        async with httpx.AsyncClient(base_url=relay, headers=token) as there:
            assert (await there.get("/x/web/ui/prefix")).text == "/x/web/ui"
            # No UI, no API, no port-forward: a service's page can reach none of them.
            for path in ("/ui/", "/ui/js/api.js", "/deployments", "/healthz", "/openapi.json"):
                refused = await there.get(path)
                assert refused.status_code == 404, path
                assert "services only" in refused.json()["detail"]
            forward = await there.get("/experiments/web/services/ui/forward", headers=UPGRADE)
            assert forward.status_code == 404
            # The Host check applies there too.
            assert (
                await there.get("/x/web/ui/prefix", headers={"Host": "evil.example"})
            ).status_code == 421


async def test_visit_link_names_the_relay_port_and_the_api_port_sends_browsers_there(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        relay = c.info.relay_url
        assert relay is not None
        link = (await c.http.post("/experiments/web/services/ui/visit")).json()
        assert link["url"].startswith(relay + "/x/web/ui/?symphony-visit=")
        # The same link on the API port (an old bookmark, a hand-edited address): sent to
        # the relay port as it is, the code not spent on the way.
        on_api = link["url"].replace(relay, c.info.http_url, 1)
        async with httpx.AsyncClient() as browser:
            moved = await browser.get(on_api)
            assert moved.status_code == 307 and moved.headers["location"] == link["url"]
            spent = await browser.get(moved.headers["location"])
            assert spent.status_code == 303 and spent.headers["location"] == "/x/web/ui/"
            assert (await browser.get(relay + "/x/web/ui/prefix")).text == "/x/web/ui"
            # With the visit cookie on the API port: sent away again, never served there.
            back = await browser.get(c.info.http_url + "/x/web/ui/prefix?a=1")
            assert back.status_code == 307
            assert back.headers["location"] == relay + "/x/web/ui/prefix?a=1"
            # A browser's WebSocket cannot follow a redirect: refused, saying where to go.
            ws = await browser.get(c.info.http_url + "/x/web/ui/echo", headers=UPGRADE)
            assert ws.status_code == 403 and relay in ws.json()["detail"]
            again = await browser.get(link["url"])
            assert again.status_code == 401  # spent once, at the relay port


async def test_visit_websocket_with_the_cookie_works_on_the_relay_port(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        relay = c.info.relay_url
        assert relay is not None
        link = (await c.http.post("/experiments/web/services/ui/visit")).json()
        async with httpx.AsyncClient() as browser:
            spent = await browser.get(link["url"])
            cookie = spent.headers["set-cookie"].split(";", 1)[0]
        url = relay.replace("http://", "ws://") + "/x/web/ui/echo"
        headers = [(b"Cookie", cookie.encode()), (b"Origin", relay.encode())]
        async with trio_websocket.open_websocket_url(url, extra_headers=headers) as ws:
            await ws.send_message("hi")
            with trio.fail_after(10):
                assert await ws.get_message() == "echo:hi"


async def test_api_port_answers_forbid_framing(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        for path in ("/healthz", "/ui/", "/deployments"):
            response = await c.http.get(path)
            assert response.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


async def test_api_port_refuses_a_page_of_the_relay_origin(tmp_path: Path) -> None:
    # With auth off (loopback) the Origin check is what keeps pages out of the API; it
    # goes by host name, and a service's page is on this very host.
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        assert c.info.relay_url is not None
        spec = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}
        from_service = {"Origin": c.info.relay_url}
        refused = await c.http.post("/deployments", json=spec, headers=from_service)
        assert refused.status_code == 403 and "relayed service" in refused.json()["detail"]
        assert (await c.http.get("/deployments", headers=from_service)).status_code == 403
        ws = await c.http.get("/live", headers={**UPGRADE, **from_service})
        assert ws.status_code == 403
        from_ui = {"Origin": c.info.http_url}
        assert (await c.http.post("/deployments", json=spec, headers=from_ui)).status_code == 201


async def test_a_standby_relay_port_answers_503(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        leader, standby = await start_pair(nursery, tmp_path)
        assert standby.relay_url is not None and leader.relay_url is not None
        async with httpx.AsyncClient(base_url=standby.relay_url) as browser:
            refused = await browser.get("/x/web/ui/")
            assert refused.status_code == 503
            assert refused.headers["x-symphony-role"] == "standby"
            assert (await browser.get("/x/web/ui/echo", headers=UPGRADE)).status_code == 503
            assert (await browser.get("/deployments")).status_code == 404
        # A link asked of the standby (which forwards the request) names the leader's
        # relay port: the leader relays, the standby does not.
        async with httpx.AsyncClient(base_url=standby.http_url) as client:
            created = await client.post("/experiments", json=web_experiment())
            assert created.status_code == 201, created.text
            link = (await client.post("/experiments/web/services/ui/visit")).json()
        assert link["url"].startswith(leader.relay_url + "/x/web/ui/?symphony-visit=")
        nursery.cancel_scope.cancel()


async def test_relay_url_names_the_reverse_proxys_address(tmp_path: Path) -> None:
    proxied = "https://apps.example.com"
    async with cluster(tmp_path, node=False, relay_url=proxied) as c:
        assert c.info.relay_url == proxied
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        link = (await c.http.post("/experiments/web/services/ui/visit")).json()
        assert link["url"].startswith(proxied + "/x/web/ui/?symphony-visit=")
        async with httpx.AsyncClient(base_url=c.info.http_url) as browser:
            moved = await browser.get("/x/web/ui/", headers={"Cookie": "symphony_visit=x"})
        assert moved.status_code == 307 and moved.headers["location"] == proxied + "/x/web/ui/"


async def test_the_ui_reached_under_the_relay_ports_number_is_told_why_it_is_refused(
    tmp_path: Path,
) -> None:
    # ssh -L 8001:127.0.0.1:8000: the UI's page is at :8001, the relay port's number, so
    # its Origin is refused as a service's; the answer says what to do.
    async with cluster(tmp_path, node=False, http_auth="none") as c:
        relay = c.info.relay_url
        assert relay is not None
        port = urlsplit(relay).port
        spec = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}
        tunnelled = {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}
        refused = await c.http.post("/deployments", json=spec, headers=tunnelled)
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            f"this API is reached under the relay port's number ({port}); reach it under "
            "another port"
        )


async def test_a_relay_url_on_the_apis_own_host_refuses_only_its_port(tmp_path: Path) -> None:
    # relay.url http://localhost:8001 beside the UI at http://localhost:API_PORT: the UI
    # is not a service's page; the relay URL's port is, under any scheme.
    relay = "http://localhost:8001"
    async with cluster(tmp_path, node=False, http_auth="none", relay_url=relay) as c:
        api_port = urlsplit(c.info.http_url).port
        host = {"Host": f"localhost:{api_port}"}
        spec = {"node_group": "g", "kind": "exec", "config": {"command": ["true"]}}
        from_ui = {**host, "Origin": f"http://localhost:{api_port}"}
        made = await c.http.post("/deployments", json=spec, headers=from_ui)
        assert made.status_code == 201, made.text
        for origin in (relay, "https://localhost:8001"):
            service = {**host, "Origin": origin}
            refused = await c.http.post("/deployments", json=spec, headers=service)
            assert refused.status_code == 403, origin
            assert "relayed service" in refused.json()["detail"]


async def test_a_relay_url_of_a_host_of_its_own_refuses_that_host_at_any_port(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node=False, relay_url="https://apps.example.com") as c:
        for origin in ("https://apps.example.com", "http://apps.example.com:8080"):
            refused = await c.http.get("/deployments", headers={"Origin": origin})
            assert refused.status_code == 403, origin
            assert "relayed service" in refused.json()["detail"]
