"""`make demo`: register the example roots and materialise every asset with the Dagster CLI.

Runs exactly what a user or CI runs: `proftriage register`, then one
`dagster asset materialize -m assets.definitions` per partition (per-root assets, then
regressions + bundles), then the index. Then the nightly demo: two generated nights of one
configuration (`tracegen.nights`, the second with a regression injected into one kernel) under
`<state dir>/demo-nights`, registered and materialised the same way, so the `regressions` asset,
its check and the bundle's "Since the previous run" section have something to show.
`--next-night` adds one more night (and re-runs its bundle); `--nights 0` skips the nights.
Prints where the bundles are.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from assets.cli import default_home, ensure_dagster_home
from pipeline.render.bundle import bundle_key
from pipeline.config import settings
from pipeline.discover import discover

ROOT_ASSETS = "raw_trace_files,kernel_facts,triage_report"
BUNDLE_ASSETS = "regressions,bundle"
NIGHTS_DIR = "demo-nights"


def _dagster() -> list[str]:
    exe = Path(sys.executable).with_name("dagster")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster"]


def _run(cmd: list[str], env: dict) -> None:
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
        raise SystemExit(f"demo step failed ({proc.returncode}): {' '.join(cmd)}")


def _materialize(select: str, partition: str | None, env: dict) -> None:
    cmd = [*_dagster(), "asset", "materialize", "-m", "assets.definitions", "--select", select]
    _run(cmd + (["--partition", partition] if partition else []), env)


def _data_root(data_root: Path, env: dict, only: set[str] | None = None) -> None:
    """Register the roots under `data_root`, materialise each (or those in `only`), then their bundles."""
    env = {**env, "PROFTRIAGE_DATA_ROOT": str(data_root)}
    _run([sys.executable, "-m", "assets.cli", "register", "--data-root", str(data_root)], env)
    roots = discover(data_root)
    for root in roots:
        if only is None or root.key in only:
            _materialize(ROOT_ASSETS, root.key, env)
    for key in sorted({bundle_key(r.framework, r.model) for r in roots if r.status == "ok"}):
        _materialize(BUNDLE_ASSETS, key, env)


def _nights(nights_root: Path, count: int, next_night: bool) -> set[str]:
    """Write the demo nights that are missing (night 1 with the demo regression); the new roots' keys."""
    from tracegen.nights import DEMO_REGRESSION, existing_nights, write_night

    have = existing_nights(nights_root)
    todo = [max(have, default=-1) + 1] if next_night else [i for i in range(count) if i not in have]
    written = [write_night(nights_root, i, op_scale=DEMO_REGRESSION if i == 1 else ()) for i in todo]
    for path in written:
        print(f"generated night {path.relative_to(nights_root)}")
    return {p.relative_to(nights_root).as_posix() for p in written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare-only", action="store_true", help="create DAGSTER_HOME and register only")
    parser.add_argument("--nights", type=int, default=2, help="generated nights of the nightly demo (0 = none)")
    parser.add_argument("--next-night", action="store_true",
                        help="only add the next generated night and re-run its regressions and bundle")
    args = parser.parse_args(argv)
    cfg = settings()
    home = ensure_dagster_home(Path(os.environ.get("DAGSTER_HOME") or default_home()))
    env = {**os.environ, "DAGSTER_HOME": str(home), "PROFTRIAGE_DATA_ROOT": str(cfg.data_root)}
    nights_root = cfg.state_dir / NIGHTS_DIR
    if args.prepare_only:
        _run([sys.executable, "-m", "assets.cli", "register", "--data-root", str(cfg.data_root)], env)
        return 0
    if not args.next_night:
        _data_root(cfg.data_root, env)
    if args.nights > 0 or args.next_night:
        new = _nights(nights_root, args.nights, args.next_night)
        _data_root(nights_root, env, only=new if args.next_night else None)
    _materialize("bundle_index", None, env)
    print(f"\nbundles: {cfg.bundles_path}\nindex:   {cfg.bundles_path / 'index.md'}\n"
          f"warehouse: {cfg.warehouse_path}\nnights:  {nights_root} (python -m assets.demo --next-night adds one)\n"
          f"Dagster home: {home}  (UI: make ui)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
