"""Run one node in this process from a JSON config (for nodes in network namespaces):
``python3 netns_node.py '{"node_id": ..., ...}'`` (the fields of NodeConfig)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import trio

from symphony.config import NodeConfig
from symphony.node import run_node


def main() -> None:
    fields = json.loads(sys.argv[1])
    for key in ("ca_file", "cert_file", "key_file", "state_dir"):
        fields[key] = Path(fields[key])
    fields["groups"] = tuple(fields["groups"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(run_node, NodeConfig(**fields))


if __name__ == "__main__":
    main()
