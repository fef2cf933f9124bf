"""`proftriage diff BASE VARIANT`: two runs compared per stage, kernel and family (docs/diff.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from pipeline.cli_types import count, percent
from pipeline.config import settings
from pipeline.progress import ProgressLine
from pipeline.store import Warehouse


def _diff_warehouse(args: argparse.Namespace) -> Warehouse:
    """--warehouse; else in memory when both sides are paths; else the default warehouse (root keys)."""
    from pipeline.diff.inputs import DiffInputError, is_path

    if args.warehouse:
        return Warehouse(Path(args.warehouse))
    if is_path(args.base) and is_path(args.variant):
        return Warehouse(None)
    default = settings().warehouse_path
    if not default.is_file():
        raise DiffInputError(f"{args.base if not is_path(args.base) else args.variant}: not a file or directory, and "
                             f"no warehouse to look the root key up in (give --warehouse W; {default} does not exist)")
    return Warehouse(default)


def cmd_diff(args: argparse.Namespace) -> int:
    from pipeline.diff.inputs import DiffInputError, diff_roots, prepare_side
    from pipeline.diff.present import apply_cutoff, render_diff_markdown
    from pipeline.report.read import UnknownRankError
    from pipeline.report.state import NotAnalyzed

    progress = ProgressLine(enabled=not args.quiet)
    try:
        warehouse = _diff_warehouse(args)
        base = prepare_side(args.base, warehouse, settings().spool_dir, set(), progress)
        variant = prepare_side(args.variant, warehouse, settings().spool_dir, {base}, progress)
        with warehouse.connect() as conn:
            diff = diff_roots(conn, base, variant, stage=args.stage, rank=args.rank, all_ranks=args.all_ranks,
                              labels=(args.base, args.variant))
    except (DiffInputError, NotAnalyzed, UnknownRankError, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    apply_cutoff(diff, args.cutoff, args.kernel_table_limit)
    if args.format == "json":
        sys.stdout.write(orjson.dumps(diff, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    else:
        sys.stdout.write(render_diff_markdown(diff))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `diff` to the `proftriage` sub-commands."""
    p = sub.add_parser("diff", help="what changed between two runs: per stage, kernel, family, beyond the noise")
    p.add_argument("base", help="the earlier run: trace file, trace root directory, or root key in the warehouse")
    p.add_argument("variant", help="the later run: the same kinds")
    p.add_argument("--format", choices=("md", "json"), default="md", help="markdown (default) or the JSON schema")
    p.add_argument("--stage", help="only this stage (prefill, decode, mixed, unknown, all)")
    p.add_argument("--cutoff", type=percent, default=1.0,
                   help="hide kernel rows whose change is under this %% of the stage's kernel time, unless "
                        "significant (0 = all)")
    p.add_argument("--kernel-table-limit", type=count, help="at most N kernel rows per stage (0 = no limit)")
    p.add_argument("--rank", type=int, help="rank to compare (default: the lowest)")
    p.add_argument("--all-ranks", action="store_true", help="compare every rank pooled")
    p.add_argument("--warehouse", help="DuckDB file holding root keys / receiving trace paths "
                                       "(default: in memory for two paths, else $PROFTRIAGE_STATE_DIR/warehouse.duckdb)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_diff)
