"""``python -m benchmarks``: the whole suite (see ``benchmarks/run.py``)."""

from benchmarks._bytecode import compile_symphony
from benchmarks.run import main

compile_symphony()

raise SystemExit(main())
