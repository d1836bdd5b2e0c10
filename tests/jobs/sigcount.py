"""A job that counts every delivery of SIGRTMIN (real-time signals queue: two sends are
two deliveries, unlike SIGTERM) and writes the count to argv[1] after each one.

The C-level handler writes one byte per delivery to the wakeup fd, so no delivery is
merged away by Python's own signal handling. It writes argv[1] + '.ready' when set up.
"""

import os
import signal
import sys

out = sys.argv[1]
read_end, write_end = os.pipe()
os.set_blocking(write_end, False)
signal.set_wakeup_fd(write_end)
signal.signal(signal.SIGRTMIN, lambda *_: None)
with open(out + ".ready", "w") as f:
    f.write("ready")
count = 0
while True:
    try:
        count += len(os.read(read_end, 64))
    except InterruptedError:
        continue
    with open(out + ".tmp", "w") as f:
        f.write(str(count))
    os.replace(out + ".tmp", out)
