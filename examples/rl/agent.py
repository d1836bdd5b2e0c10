"""An agent: fetches parameters from the learner's parameter-server."""

from __future__ import annotations

import os
import time

from common import request, say

if __name__ == "__main__":
    me = f"{os.environ['SYMPH_PROCESS']} of {os.environ['SYMPH_PROCESS_GROUP']}"
    answer = request("parameter-server", f"hello from {me}")
    say(f"{me} got: {answer}")
    time.sleep(3600)
