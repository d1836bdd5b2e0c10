"""The CPU time a process spends in Python's cyclic garbage collector, per generation.

Past a few thousand node links the collector is a large share of a process's CPU (the
Conductor's, and the simulated fleet's: each holds thousands of links); the node-scale
benchmark reports it for both.
"""

from __future__ import annotations

import gc
import time


class GcClock:
    """Sums the CPU time of every garbage collection, per generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        # thread_time: CPU of this thread only, so time lost to other processes on a
        # busy machine is not counted as collector time.
        if phase == "start":
            self._began = time.thread_time()
        else:
            generation = info["generation"]
            self.runs[generation] += 1
            self.seconds[generation] += time.thread_time() - self._began

    def report(self) -> dict[str, object]:
        return {"runs": self.runs, "seconds": self.seconds, "tracked": len(gc.get_objects())}
