"""``SymphonyParser``: a project's own command line, with every experiment command in it.

    # myproject.py
    from symphony.commandline import SymphonyParser
    from symphony.engine import Cluster, SymphonyConfig

    class MyProjectParser(SymphonyParser):
        def create_cluster(self):                 # 1. the backend
            return Cluster.new("symphony")

        def setup(self):                          # 2. the monitoring commands, and ours
            super().setup()
            SymphonyConfig().set_username("sarah")
            parser = self.add_subparser("create")  # `python myproject.py create`
            parser.add_argument("--agents", type=int, default=2)

        def action_create(self, args):            # 3. runs `create`
            exp = self.cluster.new_experiment("foo")
            ...
            self.cluster.launch(exp)

    if __name__ == "__main__":
        MyProjectParser().main()

``python myproject.py create`` launches; ``python myproject.py p``, ``logs``, ``ls``,
``d``, ``db``, ``se``, ``vi`` and ``launch`` watch and manage what it launched, on the
cluster :meth:`create_cluster` returns (made once, when a command first needs it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from symphony.engine import Cluster

#: The command modules whose commands every SymphonyParser has.
MONITORING = ("symphony.cli.experiments", "symphony.cli.process", "symphony.cli.logs")


class SymphonyParser:
    """Subclass it: :meth:`create_cluster`, :meth:`setup`, ``action_<name>`` methods."""

    def __init__(self, prog: str | None = None, description: str | None = None) -> None:
        import argparse

        self.parser = argparse.ArgumentParser(prog=prog, description=description)
        self.parser.set_defaults(handler=None, cluster_factory=lambda: self.cluster)
        self._subparsers = self.parser.add_subparsers(title="commands", metavar="COMMAND")
        self._cluster: Cluster | None = None
        self.setup()

    @property
    def cluster(self) -> Cluster:
        """The cluster of :meth:`create_cluster`, made when first asked for."""
        if self._cluster is None:
            self._cluster = self.create_cluster()
        return self._cluster

    def create_cluster(self) -> Cluster:
        """The backend; by default the Conductor found as ``symphony`` finds it."""
        from symphony.engine import Cluster

        return Cluster.new("symphony")

    def setup(self) -> None:
        """Add the monitoring commands; a subclass adds its own after ``super().setup()``."""
        import importlib

        for name in MONITORING:
            importlib.import_module(name).register(self._subparsers)

    def add_subparser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A new sub-command ``name`` (``aliases=``, ``help=`` as for argparse), run by
        the method ``action_<name>(args)`` (dashes in ``name`` become ``_``)."""
        parser = self._subparsers.add_parser(name, **kwargs)
        parser.set_defaults(handler=self._action(name))
        return parser

    def _action(self, name: str) -> Any:
        method = f"action_{name.replace('-', '_')}"

        def run(args: argparse.Namespace) -> int:
            found = getattr(self, method, None)
            if found is None:
                raise NotImplementedError(f"{type(self).__name__} has no {method}(args)")
            status = found(args)
            return status if isinstance(status, int) else 0

        return run

    def main(self, argv: list[str] | None = None) -> int:
        """Parse ``argv`` (default: the command line) and run its command; exits with
        its status when that is not 0 (an error is one line, status 1)."""
        from ._app import run_handler

        args = self.parser.parse_args(argv)
        if args.handler is None:
            self.parser.print_help()
            raise SystemExit(2)
        status = run_handler(args.handler, args, self.parser.prog)
        if status:
            raise SystemExit(status)
        return status
