"""A job for health checks: unhealthy on its first run, healthy from its second.

usage: serve.py PORT MODE, in a working directory where it counts its runs in 'runs'.
- MODE http: listens; answers 503 on the first run, 200 afterwards.
- MODE tcp: does not listen on the first run; listens afterwards.
"""

import http.server
import os
import sys
import time
from pathlib import Path

port, mode = int(sys.argv[1]), sys.argv[2]
runs = int(Path("runs").read_text()) + 1 if os.path.exists("runs") else 1
with open("runs", "w") as f:
    f.write(str(runs))
if mode == "tcp" and runs == 1:
    time.sleep(1000)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503 if runs == 1 else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
