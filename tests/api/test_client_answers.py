"""symphony.client against a server that answers 200 with JSON of the wrong shape.

Something else may listen where a Conductor was expected (another program, a proxy);
its answer must become the client's own ApiError, never a TypeError or KeyError
from deep inside the client.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from symphony.client import ApiError, AsyncClient, Client

ANSWERS = {  # path -> a 200 answer that is valid JSON but not what the API sends
    "/healthz": [],
    "/nodes": {"nodes": "none"},
    "/deployments": [{"deployments": []}],
    "/deployments/web/events": {"events": [1, 2]},
}


class _WrongShapes(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(ANSWERS.get(self.path.split("?")[0], {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WrongShapes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_client_answer_of_the_wrong_shape_is_an_api_error(url: str) -> None:
    client = Client(url, token="t")
    calls = [client.health, client.nodes, client.list_deployments, lambda: client.events("web")]
    for call in calls:
        with pytest.raises(ApiError, match="unexpected answer") as caught:
            call()
        assert caught.value.status == 200


async def test_client_async_answer_of_the_wrong_shape_is_an_api_error(url: str) -> None:
    async with AsyncClient(url, token="t") as client:
        for call in (client.health, client.nodes, client.list_deployments):
            with pytest.raises(ApiError, match="unexpected answer"):
                await call()
        with pytest.raises(ApiError, match="unexpected answer"):
            await client.events("web")
