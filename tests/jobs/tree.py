"""A job whose tree resists stopping: leader -> child -> grandchild.

The child ignores SIGTERM; the grandchild also ignores it and moves to its own session
(so it is in another process group). Writes "leader child grandchild" pids to argv[1].
"""

import os
import signal
import sys
import time

out = sys.argv[1]
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    leader, child = os.getppid(), os.getpid()
    if os.fork() == 0:
        os.setsid()  # only then report: the test checks that it left the job's session
        with open(out + ".tmp", "w") as f:
            f.write(f"{leader} {child} {os.getpid()}")
        os.rename(out + ".tmp", out)
    while True:
        time.sleep(1)
while True:
    time.sleep(1)
