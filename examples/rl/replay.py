"""The replay process: sends batches of experience to the learner's replay-server."""

from __future__ import annotations

import os
import time

from common import request, say

if __name__ == "__main__":
    for batch in range(3):
        answer = request("replay-server", f"batch {batch} from {os.environ['SYMPH_PROCESS']}")
        say(f"replay-server answered: {answer}")
    time.sleep(3600)
