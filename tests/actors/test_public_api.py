"""The public surface of symphony.actors is pinned: changing it is a deliberate act."""

import symphony.actors

EXPORTED = {
    "Actor", "ActorConfigError", "ActorCrashed", "ActorError", "ActorRef", "ActorStopped",
    "AskTimeout", "Backoff", "BackoffTracker", "ChildInfo", "ChildSpec", "DuplicateChild",
    "MailboxFull", "Outbox", "Reply", "RestartType", "Strategy", "Supervisor", "SupervisorFailed",
    "sole_exception", "spawn",
}  # fmt: skip


def test_actors_public_names_are_pinned() -> None:
    assert set(symphony.actors.__all__) == EXPORTED
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
