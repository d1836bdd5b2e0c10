"""The public surface of symphony.actors: its own code, documented, importing nothing else.

The set of names itself is pinned with every other package's in tests/test_public_api.py.
"""

import symphony.actors

EXPORTED = set(symphony.actors.__all__)


def test_actors_public_names_come_from_the_runtime() -> None:
    for name in EXPORTED - {"RestartType", "Strategy"}:  # typing aliases
        assert getattr(symphony.actors, name).__module__.startswith("symphony.actors")


def test_actors_public_names_have_docstrings() -> None:
    for name in EXPORTED - {"RestartType", "Strategy"}:
        assert getattr(symphony.actors, name).__doc__, name


def test_actors_import_nothing_else_of_symphony() -> None:
    import subprocess
    import sys

    code = (
        "import sys, symphony.actors; "
        "print(sorted(m for m in sys.modules if m.startswith('symphony.') "
        "and not m.startswith('symphony.actors')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
