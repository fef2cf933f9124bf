"""The Dagster-only commands of `proftriage`, plugged into `pipeline.cli` (entry point group
``proftriage.commands`` in pyproject.toml):

- `proftriage register [--data-root DIR]`: add the `trace_roots` and `bundles` dynamic partitions
  of every root under DIR to the instance at `$DAGSTER_HOME` (no Dagster CLI can: dagster#15499).
- `proftriage dagster-home [--path DIR]`: create a Dagster home whose `dagster.yaml` is the repo's
  `dagster.instance.yaml` template (telemetry off, pool `tracedb` limit 1) if it has none; print
  its path. (The template is not named `dagster.yaml`: `dagster dev` warns about a `dagster.yaml`
  in the folder it starts in when DAGSTER_HOME is elsewhere.)
`python -m assets.cli …` runs the whole CLI too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from pipeline.config import settings
from pipeline.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "dagster.instance.yaml"


def default_home() -> Path:
    """`$DAGSTER_HOME`, else `<state_dir>/dagster_home`."""
    value = os.environ.get("DAGSTER_HOME")
    return Path(value).expanduser() if value else settings().state_dir / "dagster_home"


def ensure_dagster_home(path: Path) -> Path:
    """Create `path` with its `dagster.yaml` (the `dagster.instance.yaml` template) unless it has one."""
    path.mkdir(parents=True, exist_ok=True)
    target = path / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(TEMPLATE, target)
    return path.resolve()


def cmd_dagster_home(args: argparse.Namespace) -> int:
    print(ensure_dagster_home(Path(args.path) if args.path else default_home()))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    import dagster as dg

    from assets.partitions import register_roots
    from pipeline.discover import DiscoveryError, discover

    if not os.environ.get("DAGSTER_HOME"):
        print("error: set DAGSTER_HOME (see `proftriage dagster-home`)", file=sys.stderr)
        return 2
    ensure_dagster_home(Path(os.environ["DAGSTER_HOME"]))
    data_root = Path(args.data_root) if args.data_root else settings().data_root
    try:
        roots = discover(data_root)
    except DiscoveryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        reg = register_roots(instance, roots)
    for key in reg.roots:
        print(f"trace_roots: added {key}")
    for key in reg.bundles:
        print(f"bundles: added {key}")
    print(f"{len(roots)} trace roots under {data_root}; {len(reg.roots)} root and {len(reg.bundles)} bundle partitions added")
    return 0


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add `register` and `dagster-home` to the `proftriage` sub-commands."""
    p = sub.add_parser("register", help="add trace_roots / bundles partitions to the Dagster instance ($DAGSTER_HOME)")
    p.add_argument("--data-root", help="directory to discover trace roots in (default: $PROFTRIAGE_DATA_ROOT)")
    p.set_defaults(func=cmd_register)
    p = sub.add_parser("dagster-home", help="create the Dagster home with the dagster.yaml template; print its path")
    p.add_argument("--path", help="folder (default: $DAGSTER_HOME, else <state dir>/dagster_home)")
    p.set_defaults(func=cmd_dagster_home)


def main(argv: list[str] | None = None) -> int:
    """`proftriage`, as the console script runs it."""
    from pipeline.cli import main as engine_main

    return engine_main(argv)


if __name__ == "__main__":
    sys.exit(main())
