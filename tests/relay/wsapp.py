"""A small web app for relay tests: a page that talks to a WebSocket, run on a port.

``python3 wsapp.py PORT``: ``/`` is a page whose script opens ``echo`` (a WebSocket,
relative to the page) and shows what comes back; ``/prefix`` answers the request's
``X-Forwarded-Prefix``; ``/upload`` the size and type of the body; ``/headers`` what
the app was sent; ``/go`` redirects to ``/prefix`` (a root-relative Location);
``/worker`` is a page that registers ``worker.js`` as a service worker for the whole
site (its title says whether the browser let it); ``/steal`` tries to read the web UI's
token (its title says what it found); ``/hang`` never answers. The WebSocket ``sink``
accepts and then reads nothing, ``mute`` never answers its upgrade (``/muted`` counts
them), ``flood`` sends 16 MiB messages, ``spray`` 256 KiB ones.
"""

from __future__ import annotations

import json
import sys

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import redirect, request, websocket
from quart_trio import QuartTrio

app = QuartTrio("wsapp")

PAGE = """<!doctype html><html><body><p id="out">waiting</p><script>
const url = new URL("echo", location.href);
url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
const ws = new WebSocket(url);
ws.onopen = () => ws.send("hello");
ws.onmessage = (e) => { document.getElementById("out").textContent = e.data; };
ws.onerror = () => { document.getElementById("out").textContent = "error"; };
</script></body></html>"""


@app.get("/")
async def page() -> str:
    return PAGE


@app.get("/prefix")
async def prefix() -> str:
    return request.headers.get("X-Forwarded-Prefix", "(none)")


@app.get("/headers")
async def headers() -> str:
    return json.dumps({k.lower(): v for k, v in request.headers.items()})


@app.get("/go")
async def go() -> object:
    return redirect("/prefix")


@app.get("/hang")
async def hang() -> str:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


@app.post("/upload")
async def upload() -> str:
    body = await request.get_data()
    return f"{len(body)} {request.headers.get('Content-Type')}"


# What a hostile app would do: take over every page of the Conductor's origin, the web
# UI's among them, by a service worker whose scope is the root.
WORKER_PAGE = """<!doctype html><html><head><title>waiting</title></head><body><script>
navigator.serviceWorker.register("worker.js", {scope: "/"}).then(
  () => { document.title = "registered"; },
  (error) => { document.title = "refused"; });
</script></body></html>"""


# What a hostile app would do in a tab where the web UI was logged in: read the UI's
# token from sessionStorage, and from a frame of the UI (``?ui=`` its address).
STEAL_PAGE = """<!doctype html><html><head><title>waiting</title></head><body><script>
const found = [];
const mine = sessionStorage.getItem("symphony.token");
if (mine) found.push("storage:" + mine);
const ui = new URLSearchParams(location.search).get("ui");
const frame = document.createElement("iframe");
frame.src = ui || "/ui/";
frame.onload = () => {
  try {
    const theirs = frame.contentWindow.sessionStorage.getItem("symphony.token");
    if (theirs) found.push("frame:" + theirs);
  } catch (error) { /* another origin: not readable */ }
  document.title = found.length ? found.join(" ") : "nothing";
};
document.body.appendChild(frame);
setTimeout(() => { if (document.title === "waiting") frame.onload(); }, 3000);
</script></body></html>"""


@app.get("/steal")
async def steal_page() -> str:
    return STEAL_PAGE


@app.get("/worker")
async def worker_page() -> str:
    return WORKER_PAGE


@app.get("/worker.js")
async def worker() -> tuple[str, dict[str, str]]:
    script = "self.addEventListener('fetch', () => {});"
    return script, {"Content-Type": "text/javascript", "Service-Worker-Allowed": "/"}


@app.websocket("/echo")
async def echo() -> None:
    while True:
        message = await websocket.receive()
        await websocket.send(f"echo:{message}")


@app.websocket("/sink")
async def sink() -> None:
    await websocket.accept()
    await trio.sleep_forever()


#: WebSocket upgrades ``/mute`` holds now (``/muted`` tells: a test waits for one).
_MUTED = [0]


@app.websocket("/mute")
async def mute() -> None:
    """Never answers the upgrade (nor refuses it)."""
    _MUTED[0] += 1
    await trio.sleep_forever()


@app.get("/muted")
async def muted() -> str:
    return str(_MUTED[0])


@app.websocket("/flood")
async def flood() -> None:
    data = b"f" * (16 * 1024 * 1024)
    while True:
        await websocket.send(data)


@app.websocket("/spray")
async def spray() -> None:
    """64 MiB in 256 KiB messages (under the relay's limit, 4 MiB), far more than the
    buffers on the way hold; then nothing. Not for ever: once the visitor is gone, a
    send here returns at once, and the loop would keep this process too busy to serve."""
    data = b"s" * (256 * 1024)
    for _ in range(256):
        await websocket.send(data)
    await trio.sleep_forever()


def main() -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{int(sys.argv[1])}"]
    config.accesslog = None
    trio.run(serve, app, config)


if __name__ == "__main__":
    main()
