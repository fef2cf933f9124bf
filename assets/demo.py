"""`make demo`: register the example roots and materialise every asset with the Dagster CLI.

Runs exactly what a user or CI runs: `proftriage register`, then one
`dagster asset materialize -m assets.definitions` per partition (per-root assets, then
bundles), then the index. Prints where the bundles are.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare-only", action="store_true", help="create DAGSTER_HOME and register only")
    args = parser.parse_args(argv)
    cfg = settings()
    home = ensure_dagster_home(Path(os.environ.get("DAGSTER_HOME") or default_home()))
    env = {**os.environ, "DAGSTER_HOME": str(home), "PROFTRIAGE_DATA_ROOT": str(cfg.data_root)}
    _run([sys.executable, "-m", "assets.cli", "register", "--data-root", str(cfg.data_root)], env)
    if args.prepare_only:
        return 0
    roots = discover(cfg.data_root)
    for root in roots:
        _materialize(ROOT_ASSETS, root.key, env)
    for key in sorted({bundle_key(r.framework, r.model) for r in roots if r.status == "ok"}):
        _materialize("bundle", key, env)
    _materialize("bundle_index", None, env)
    print(f"\nbundles: {cfg.bundles_path}\nindex:   {cfg.bundles_path / 'index.md'}\n"
          f"warehouse: {cfg.warehouse_path}\nDagster home: {home}  (UI: make ui)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
