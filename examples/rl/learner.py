"""The learner: serves ``parameter-server`` (agents fetch parameters) and
``replay-server`` (the replay process sends batches), on the ports Symphony gave it."""

from __future__ import annotations

import socketserver
import threading

from common import address, say


class Parameters(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode().strip()
        say(f"parameter-server got: {line}")
        self.wfile.write(b"params v1\n")


class Replay(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode().strip()
        say(f"replay-server got: {line}")
        self.wfile.write(b"ack\n")


def serve(name: str, handler: type[socketserver.BaseRequestHandler]) -> None:
    server = socketserver.ThreadingTCPServer(address(name), handler)
    server.daemon_threads = True
    say(f"{name} listening on {server.server_address[0]}:{server.server_address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    threading.Thread(target=serve, args=("replay-server", Replay), daemon=True).start()
    serve("parameter-server", Parameters)
