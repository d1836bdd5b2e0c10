"""Where a job's code and environment come from: archives, git, named environments.

- :mod:`.fetch` downloads an archive (http(s), file://), size-capped, digest computed;
- :mod:`.cache` keeps archives by sha256 and git checkouts by commit, LRU under a cap,
  one download per key at a time;
- :mod:`.archives` unpacks zip / tar / tar.gz / tar.zst safely, all or nothing;
- :mod:`.git` checks out one commit, shallow;
- :mod:`.envs` finds venvs under ``node.envs_dir`` and conda environments;
- :mod:`.prepare` puts it together for one instance (:class:`SourcePreparer`).
"""

from .prepare import SourceError, SourcePreparer

__all__ = ["SourceError", "SourcePreparer"]
