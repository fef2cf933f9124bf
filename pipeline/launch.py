"""The `proftriage` executable. A command goes to the warm server of its state directory when one
answers (`proftriage serve`, docs/serve.md); otherwise, or with ``PROFTRIAGE_SERVER=off``, it runs
in this process. Nothing heavy is imported until that is decided."""

from __future__ import annotations

import os
import sys

SERVER_ENV = "PROFTRIAGE_SERVER"
RUN_HERE = frozenset({"serve"})  # commands that never go to a server


def main(argv: list[str] | None = None) -> int:
    """Run one `proftriage` command; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in RUN_HERE and os.environ.get(SERVER_ENV, "auto").lower() != "off":
        from pipeline.config import settings
        from pipeline.paths import REPO_ROOT
        from pipeline.serve.client import run_served

        status = run_served(argv, settings().state_dir, REPO_ROOT)
        if status is not None:
            return status
    from pipeline.cli import main as run_here

    return run_here(argv)


if __name__ == "__main__":
    sys.exit(main())
