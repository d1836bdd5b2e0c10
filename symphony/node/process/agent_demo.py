"""A minimal runnable node agent around :class:`ProcessManager`, for trying things out.

It adopts what an earlier agent left running, starts the instances given on the command
line that are not already there, and prints one JSON line per event on stdout. Kill it
with SIGKILL and start it again: the jobs keep running and are adopted, and exits that
happened meanwhile are reported. Example::

    python -m symphony.node.process.agent_demo --state-dir /tmp/node \\
        --start web-0 '{"kind": "exec", "config": {"command": ["sleep", "600"]}}'
"""

from __future__ import annotations

import argparse
import json
import sys

import trio

from symphony.spec import parse_spec
from symphony.wire import JobSpec, job_spec_from_dict

from .manager import ProcessManager
from .records import StartRequest, StatusUpdate


def _print(kind: str, **fields: object) -> None:
    print(json.dumps({"type": kind, **fields}), flush=True)


async def _main(args: argparse.Namespace) -> None:
    def on_status(update: StatusUpdate) -> None:
        _print("status", **update.to_dict())

    manager = ProcessManager(state_dir=args.state_dir, node_id=args.node_id, on_status=on_status)
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        adopted = await manager.adopt()
        _print("adopted", instances=[report.to_dict() for report in adopted])
        known = {report.instance_id for report in adopted}
        for instance_id, spec in args.start:
            if instance_id not in known:
                await manager.start_instance(StartRequest(instance_id=instance_id, spec=_job(spec)))
        _print("ready")


def _job(text: str) -> JobSpec:
    # What the Conductor does: validate the deployment spec (defaults filled), then
    # take the node's part of it.
    return job_spec_from_dict(parse_spec(json.loads(text)).to_dict())


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m symphony.node.process.agent_demo --state-dir DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--node-id", default="demo-node")
    parser.add_argument(
        "--start", nargs=2, action="append", default=[], metavar=("INSTANCE_ID", "SPEC_JSON")
    )
    try:
        trio.run(_main, parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
