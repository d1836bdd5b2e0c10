"""Visit: a service exposed by an experiment's process, served under /x/ by the Conductor."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
import trio_websocket

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment


async def test_visit_proxies_http_with_the_prefix_and_counts_it(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert (await c.http.get("/x/web/ui/prefix")).text == "/x/web/ui"
        # Any body type: the JSON-body rule of the API does not apply under /x/.
        upload = await c.http.post(
            "/x/web/ui/upload", content=b"x" * 3_000_000, headers={"Content-Type": "text/plain"}
        )
        assert upload.status_code == 200 and upload.text == "3000000 text/plain"
        # The API token never reaches the service.
        seen = (await c.http.get("/x/web/ui/headers")).json()
        assert "authorization" not in seen and seen["x-forwarded-prefix"] == "/x/web/ui"
        # A root-relative redirect of an app that ignores the prefix is put under it.
        go = await c.http.get("/x/web/ui/go")
        assert go.status_code in (301, 302) and go.headers["location"] == "/x/web/ui/prefix"
        # No slash: redirected to the service's root.
        root = await c.http.get("/x/web/ui")
        assert root.status_code == 308 and root.headers["location"] == "/x/web/ui/"
        # A program that does not follow it reads JSON, as from any other answer.
        assert root.json() == {"error": "permanent redirect", "detail": "see /x/web/ui/"}
        tunnels = (await c.http.get("/tunnels")).json()["tunnels"]
        (visit,) = [t for t in tunnels if t["kind"] == "visit"]
        assert visit["experiment"] == "web" and visit["service"] == "ui"
        assert visit["connections"] >= 5 and visit["bytes_to_service"] > 3_000_000
        assert visit["active"] == 0


async def test_visit_refuses_strangers_and_other_origins(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        async with httpx.AsyncClient(base_url=c.info.http_url, follow_redirects=True) as anonymous:
            # Sent to the services' own origin first (see test_relay_origin), refused there.
            refused = await anonymous.get("/x/web/ui/prefix")
            assert refused.status_code == 401 and "symphony visit" in refused.json()["detail"]
            assert str(refused.url).startswith(c.info.relay_url)
        evil = await c.http.post(
            "/x/web/ui/upload", content=b"x", headers={"Origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        missing = await c.http.get("/x/web/nothing/")
        assert missing.status_code == 404 and "it has ui" in missing.json()["detail"]
        assert missing.json()["error"] == "not found"  # as the API's other 404s
        assert (await c.http.get("/x/nope/ui/")).status_code == 404


async def test_visit_link_sets_a_path_cookie_once_and_leaves_no_code(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        link = (await c.http.post("/experiments/web/services/ui/visit")).json()
        assert link["path"] == "/x/web/ui/" and "symphony-visit=" in link["url"]
        async with httpx.AsyncClient() as browser:
            first = await browser.get(link["url"])
            assert first.status_code == 303
            assert first.headers["location"] == "/x/web/ui/"  # the code is gone
            cookie = first.headers["set-cookie"].lower()
            assert "httponly" in cookie and "path=/x/web/ui/" in cookie
            assert (await browser.get(link["url"].split("?")[0] + "prefix")).text == "/x/web/ui"
            seen = (await browser.get(link["url"].split("?")[0] + "headers")).json()
            assert "symphony_visit" not in seen.get("cookie", "")  # not shown to the app
            async with httpx.AsyncClient() as other_browser:
                again = await other_browser.get(link["url"])
            assert again.status_code == 401  # spent
            # The cookie opens only its own service's path.
            other = await browser.get(c.info.http_url + "/deployments")
            assert other.status_code == 401


async def test_visit_relays_the_services_websocket(tmp_path: Path) -> None:
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        url = c.info.http_url.replace("http://", "ws://") + "/x/web/ui/echo"
        token = c.http.headers["Authorization"].encode()
        async with trio_websocket.open_websocket_url(
            url, extra_headers=[(b"Authorization", token)]
        ) as ws:
            for text in ("one", "two" * 1000):
                await ws.send_message(text)
                with trio.fail_after(10):
                    assert await ws.get_message() == f"echo:{text}"
        # Without a token (or cookie), and from another origin, no WebSocket. (Asked with
        # httpx: trio-websocket's client leaks its socket when it is refused.)
        upgrade = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
        async with httpx.AsyncClient(base_url=c.info.http_url) as anonymous:
            # On the API port a browser's is sent to the relay port (test_relay_origin).
            assert (await anonymous.get("/x/web/ui/echo", headers=upgrade)).status_code == 403
        assert c.info.relay_url is not None
        async with httpx.AsyncClient(base_url=c.info.relay_url) as anonymous:
            assert (await anonymous.get("/x/web/ui/echo", headers=upgrade)).status_code == 401
        evil = {**upgrade, "Origin": "http://evil.example"}
        assert (await c.http.get("/x/web/ui/echo", headers=evil)).status_code == 403
