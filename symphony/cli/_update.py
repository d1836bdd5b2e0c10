"""``symphony deploy -f FILE --update``: the edited file changes the deployment in place.

What ``nomad job run`` and ``kubectl apply`` do with a job file run again: the file is
the whole template. The Conductor takes changes as a JSON merge patch, so the patch
sent is the difference between the deployment's spec and the file's (both with every
default filled in): a field the file changed is set, one it no longer names goes back to
its default (``null``), a key taken out of a map (``config.env``) is removed. Two
fields are left as they are when the file does not name them: ``replicas`` (``symphony
scale`` may have set it) and ``desired_state`` (``symphony stop``/``start``). A change
of the template makes a new version that rolls out as the spec's ``update`` says.

The file is judged as the Conductor judges the patch: a field it keeps as the
deployment stores it is not held to rules added since (a health check stored by an
older release probing more often than once a second); a field it changes is.

A process of an experiment is a deployment named ``<experiment>.<process>``: the file
changes its template like any other, but its ``experiment`` field is the Conductor's
(which experiment and process it is, set at launch), so a file that does not name it
keeps it; and the Conductor refuses a change of what the experiment sets (``replicas``,
``desired_state``, ``schedule``), naming the field.
Processes are made by ``symphony launch``, not here: ``--update`` with such a name and no
such process says so.

A git source's ``commit`` is recorded by the Conductor, not written in the file: when
the file names no commit and the same ``repo`` and ``ref``, the recorded one is kept
(else every patch would reset it and move the deployment to the branch's new head).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import CLIError
from ._remote import call

#: Left alone unless the file names them: other commands set them.
KEPT = ("replicas", "desired_state")


def spec_patch(current: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that turns ``current`` into ``new`` (pure).

    >>> spec_patch({"a": 1, "env": {"X": "1", "Y": "2"}}, {"a": 2, "env": {"X": "1"}})
    {'a': 2, 'env': {'Y': None}}
    """
    patch: dict[str, Any] = {}
    for key in sorted(current.keys() | new.keys()):
        if key not in new:
            patch[key] = None
        elif key not in current:
            patch[key] = new[key]
        elif isinstance(current[key], dict) and isinstance(new[key], dict):
            if inner := spec_patch(current[key], new[key]):
                patch[key] = inner
        elif current[key] != new[key]:
            patch[key] = new[key]
    return patch


def keep_pinned_commit(current: dict[str, Any], new: dict[str, Any]) -> None:
    """Give ``new`` the commit ``current`` recorded for the same git repo and ref.

    >>> new = {"config": {"git": {"repo": "r", "ref": "main", "commit": None}}}
    >>> keep_pinned_commit({"config": {"git": {"repo": "r", "ref": "main", "commit": "c"}}}, new)
    >>> new["config"]["git"]["commit"]
    'c'
    """
    old = (current.get("config") or {}).get("git")
    git = (new.get("config") or {}).get("git")
    if not isinstance(old, dict) or not isinstance(git, dict) or git.get("commit") is not None:
        return
    if (old.get("repo"), old.get("ref")) == (git.get("repo"), git.get("ref")):
        git["commit"] = old.get("commit")


def update_in_place(
    api: Any, existing: dict[str, Any], spec: dict[str, Any], args: argparse.Namespace
) -> int:
    """Send what the file changes of ``existing``; report it (and wait, with --wait)."""
    from symphony.spec import SpecError

    from ._wait import wait_after
    from .rollout import roll_summary

    current = dict(existing.get("spec") or {})
    if current.get("experiment") is not None and "experiment" not in spec:
        spec = {**spec, "experiment": current["experiment"]}  # owned by the Conductor
    try:
        new = _judged(spec, current)
    except SpecError as exc:
        raise CLIError(f"invalid spec: {exc}") from None
    for key in KEPT:
        if key not in spec:
            new[key] = current.get(key)
    keep_pinned_commit(current, new)
    patch = spec_patch(current, new)
    name = existing.get("name")
    if not patch:
        print(f"deployment {name} unchanged (version {existing.get('version')})", flush=True)
        return 0
    updated: dict[str, Any] = call(api, api.update_deployment, str(existing.get("id")), patch)
    print(
        f"deployment {name} updated: version {updated.get('version')} ({', '.join(patch)} changed)",
        flush=True,
    )
    if updated.get("rollout"):
        print(roll_summary(updated), flush=True)
    if args.wait:
        return wait_after(api, updated, timeout=args.timeout)
    return 0


def _judged(spec: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The file's spec with every default filled in, judged as the Conductor judges the
    patch: a field kept as the deployment stores it is not held to rules added since
    it was accepted (a check's period below today's floor), so a file that changes only
    ``replicas`` is not refused here for what the server takes. Raises SpecError."""
    from symphony.spec import KEPT_FIELDS, SpecError, parse_spec, parse_stored_spec

    try:
        stored = parse_stored_spec(current)
        # Filled in as the stored spec is, only to see which fields the file keeps: the
        # lenient reading also mends values (a max backoff below the backoff is raised
        # to it), so the file's own values are what is judged.
        filled = parse_stored_spec(spec).to_dict()
    except SpecError:  # the file is held to every rule: they name what is wrong
        return parse_spec(spec).to_dict()
    was = stored.to_dict()
    data = dict(spec)
    for name in KEPT_FIELDS:
        if name in was and filled.get(name) == was[name]:
            data[name] = was[name]
    return parse_spec(data, previous=stored).to_dict()


def existing_deployment(api: Any, name: Any) -> dict[str, Any] | None:
    """The deployment named ``name``, or None when there is none."""
    if not isinstance(name, str) or not name:
        raise CLIError("--update needs the deployment's name: in the file, or --name NAME")
    found: dict[str, Any] | None = call(api, _get, api, name)
    if found is None and "." in name:
        experiment, _, process = name.partition(".")
        raise CLIError(
            f"no deployment {name}: a name with a '.' is process {process!r} of experiment "
            f"{experiment!r}, and --update changes only one that exists; an experiment's "
            f"processes are made by `symphony launch` (see `symphony p {experiment}`)"
        )
    return found


def _get(api: Any, name: str) -> dict[str, Any] | None:
    from symphony.client import ApiError

    try:
        found: dict[str, Any] = api.get_deployment(name)
    except ApiError as exc:
        if exc.status == 404:
            return None  # --update creates it
        raise
    return found
