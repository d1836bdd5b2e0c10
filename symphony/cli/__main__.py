"""``python -m symphony.cli`` is the ``symphony`` command."""

import sys

from . import main

sys.exit(main())
