"""`proftriage` command line: ingest, inspect, analyze, triage, bundle (+ capture, probe, trtllm-with-stack).

Commands that need Dagster (`register`, `dagster-home`) are plugged in from `assets.cli` through the
entry-point group ``proftriage.commands`` (pyproject.toml), so this module never imports the Dagster
layer; everything defined here runs without a Dagster instance.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import duckdb
import orjson

from pipeline import exits
from pipeline.cli_types import count, percent
from pipeline.config import settings
from pipeline.discover import DiscoveryError, inspect_file, pair_root, resolve_inputs
from pipeline.exits import write_failure
from pipeline.ingest import LoadSummary, ingest_root, iter_ingest, vanished_roots
from pipeline.paths import read_sql
from pipeline.progress import Heartbeat, ProgressLine
from pipeline.store import Warehouse, WarehouseLockTimeout


def _warehouse(args: argparse.Namespace, default_memory: bool) -> Warehouse:
    if getattr(args, "warehouse", None):
        return Warehouse(Path(args.warehouse))
    return Warehouse(None) if default_memory else Warehouse(settings().warehouse_path)


def _print_summary(summary: LoadSummary) -> None:
    rows = ", ".join(f"{t} {n:,}" for t, n in sorted(summary.rows.items()))
    print(f"{summary.root}: {summary.ok}/{summary.files} files loaded ({rows or 'no rows'})")
    for err in summary.errors:
        print(f"  error: {err}")
    for kept in summary.kept:
        print(f"  kept previous rows of {kept}")


def cmd_ingest(args: argparse.Namespace) -> int:
    warehouse = _warehouse(args, default_memory=False)
    spool = settings().spool_dir  # per-file spools are removed once loaded
    progress = ProgressLine(enabled=not args.quiet)
    try:
        roots = resolve_inputs([Path(p) for p in args.roots], Path(args.data_root) if args.data_root else None)
    except (DiscoveryError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed, done = 0, 0
    try:
        for summary in iter_ingest(roots, warehouse, spool, progress, args.workers):
            _print_summary(summary)
            failed, done = failed + bool(summary.errors), done + 1
    except WarehouseLockTimeout as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (duckdb.Error, OSError) as exc:
        if isinstance(exc, (BrokenPipeError, duckdb.InterruptException)):
            raise
        where = warehouse.path if isinstance(exc, duckdb.Error) else getattr(exc, "filename", None) or spool
        print(f"error: {write_failure(exc, where)}; {roots[done].key if done < len(roots) else 'the last root'} "
              "was not stored (the roots printed above are)", file=sys.stderr)
        return 2
    with warehouse.connect() as conn:
        for key, path in vanished_roots(conn, [Path(p) for p in args.roots], roots):
            print(f"  note: {key} ({path}) was not found this time (moved, deleted or every file rejected); "
                  "its stored rows are kept")
    print(f"warehouse: {warehouse.path}")
    return 1 if failed and args.strict else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pipeline.ingest.parse import parse_file

    path = Path(args.file)
    if path.is_dir():
        print(f"error: {path}: is a directory; inspect takes one trace file "
              "(`proftriage triage --input DIR` reads a root)", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    tf = inspect_file(path)
    out = {"discovery": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(tf).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        parsed = parse_file(path, 0, Path(tmp))
    out["ingest"] = {"status": parsed.status, "error": parsed.error, "note": parsed.note, "events": parsed.events,
                     "kernels": parsed.kernels, "ts_variant": parsed.ts_variant,
                     "base_time_ns": parsed.base_time_ns, "categories": parsed.categories,
                     "seconds": round(parsed.seconds, 3)}
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2, default=str).decode())
    return 0 if parsed.status == "ok" else 1


def _triage_roots(args: argparse.Namespace):
    if args.mapping_input or args.formal_input:
        if not (args.mapping_input and args.formal_input):
            raise ValueError("--mapping-input and --formal-input go together")
        return [pair_root(Path(args.mapping_input), Path(args.formal_input))]
    if not args.input:
        raise ValueError("give --input PATH (a trace file or root) or --mapping-input A --formal-input B")
    return resolve_inputs([Path(p) for p in args.input])


def cmd_triage(args: argparse.Namespace) -> int:
    from pipeline.report.read import TriageOptions, UnknownRankError
    from pipeline.report.triage import triage_root

    try:
        roots = _triage_roots(args)
    except (ValueError, DiscoveryError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warehouse = _warehouse(args, default_memory=True)
    opts = TriageOptions(cutoff_pct=args.cutoff, rank=args.rank, all_ranks=args.all_ranks,
                         kernel_limit=args.kernel_table_limit, overlap_limit=args.overlap_table_limit,
                         pid_substring=args.pid_substring)
    spool = settings().spool_dir  # per-file spools are removed once loaded
    reports = []
    with Heartbeat(enabled=not args.quiet) as beat:
        for root in roots:
            beat.phase(f"reading {root.key}")
            summary = ingest_root(root, warehouse, spool, ProgressLine(enabled=not args.quiet))
            if not summary.ok and not summary.kept:
                refused = [f"{tf.path}: {tf.reason or tf.status}" for tf in root.files if tf.status != "ok"]
                for problem in summary.errors + refused or [f"{root.path}: no trace file could be loaded"]:
                    print(f"error: {problem}", file=sys.stderr)
                return 1
            for problem in summary.errors:
                print(f"warning: {problem} (left out of the report)", file=sys.stderr)
            beat.phase(f"analysing {root.key} (facts, then every table)")
            with warehouse.connect() as conn:
                try:
                    reports.append(triage_root(conn, root.key, opts))
                except UnknownRankError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
    text = _format(reports, args.format)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        target = out / ("triage.json" if args.format == "json" else "triage.md")
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0


def _format(reports: list[dict], fmt: str) -> str:
    if fmt == "json":
        doc = reports[0] if len(reports) == 1 else {"reports": reports}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
    from pipeline.render.markdown import render_report_markdown  # jinja2: only for markdown

    return "\n\n".join(render_report_markdown(r) for r in reports)


def _existing_warehouse(args: argparse.Namespace) -> Warehouse | None:
    """The warehouse a reading command names; None (after an error line) when its file does not exist."""
    warehouse = _warehouse(args, default_memory=False)
    if not Path(warehouse.path).is_file():
        print(f"error: warehouse {warehouse.path} does not exist (ingest and analyze roots into it first)",
              file=sys.stderr)
        return None
    return warehouse


def cmd_analyze(args: argparse.Namespace) -> int:
    from pipeline.report.context import RootNotFound
    from pipeline.report.triage import analyze

    warehouse = _existing_warehouse(args)
    if warehouse is None:
        return 2
    with warehouse.connect() as conn:
        roots = args.roots or [r for r, _, _ in conn.execute(read_sql("report/roots.sql")).fetchall()]
        if not roots:
            print(f"error: warehouse {warehouse.path} holds no trace root (run `proftriage ingest` first)", file=sys.stderr)
            return 2
        for root in roots:
            try:
                facts = analyze(conn, root)
            except RootNotFound as exc:
                print(f"error: {exc.args[0]}", file=sys.stderr)
                return 2
            ranks = f", ranks {facts.ranks}" if facts and facts.ranks else ""
            print(f"{root}: {facts.rows if facts else 0:,} kernel facts from {facts.files if facts else 0} files{ranks}; "
                  "report stored")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from pipeline.render.bundle import write_bundles
    from pipeline.report.state import NotAnalyzed

    warehouse = _existing_warehouse(args)
    if warehouse is None:
        return 2
    out = Path(args.output_dir) if args.output_dir else settings().bundles_path
    with warehouse.connect() as conn:
        try:
            written = write_bundles(conn, out)
        except NotAnalyzed as exc:
            print(f"error: bundles not written, reports missing or stale:\n{exc.args[0]}", file=sys.stderr)
            return 2
    for path in written:
        print(path)
    return 0


def _add_triage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("triage", help="triage a trace file, a root, or a mapping/formal pair")
    p.add_argument("--input", "-i", action="append", help="trace file or trace root (repeatable)")
    p.add_argument("--mapping-input", help="trace captured with CUDA graphs off (attribution)")
    p.add_argument("--formal-input", help="trace captured with CUDA graphs on (timing)")
    p.add_argument("--format", choices=("md", "json"), default="md", help="markdown (default) or the JSON schema")
    p.add_argument("--cutoff", type=percent, default=1.0, help="hide kernel rows under this %% of stage time (0 = all)")
    p.add_argument("--rank", type=int,
                   help="rank to analyse (default: the lowest, normally 0; a rank the root lacks is an error)")
    p.add_argument("--all-ranks", action="store_true",
                   help="analyse every rank together (timeline figures per rank, then summed)")
    p.add_argument("--warehouse", help="DuckDB file to keep the rows in (default: in memory)")
    p.add_argument("--output-dir", help="write triage.md / triage.json here instead of stdout")
    p.add_argument("--kernel-table-limit", type=count, help="at most N kernel rows per stage (0 = no limit)")
    p.add_argument("--overlap-table-limit", type=count, default=30, help="at most N overlap rows per stage (0 = all)")
    p.add_argument("--pid-substring", help="(reference-tool flag) only processes whose name contains this")
    p.add_argument("--framework", help="(reference-tool flag) accepted; the framework is inferred")
    p.add_argument("--profile-by-stage", dest="profile_by_stage", action="store_true", default=True,
                   help="(reference-tool flag) stages are always split when the trace says so")
    p.add_argument("--no-profile-by-stage", dest="profile_by_stage", action="store_false",
                   help="(reference-tool flag) accepted; stages are split whenever the trace says so")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_triage)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every engine command."""
    parser = argparse.ArgumentParser(prog="proftriage", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"proftriage {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", help="parse trace roots into the warehouse")
    p.add_argument("roots", nargs="+", help="data root, trace root or trace file")
    p.add_argument("--warehouse", help="DuckDB file (default: $PROFTRIAGE_STATE_DIR/warehouse.duckdb)")
    p.add_argument("--data-root", help="keys are relative to this directory")
    p.add_argument("--workers", type=count, default=0,
                   help="parse threads per large file (0 = auto: one per core, up to 4, for files ≥ 8 MB)")
    p.add_argument("--strict", action="store_true", help="exit 1 when any file failed")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("inspect", help="what discovery inferred and ingest counted for one file")
    p.add_argument("file", help="one trace file (.json or .json.gz)")
    p.set_defaults(func=cmd_inspect)
    _add_triage(sub)
    from pipeline.diff.cli import register as register_diff

    register_diff(sub)
    p = sub.add_parser("analyze", help="build kernel facts and the stored report of roots in the warehouse")
    p.add_argument("roots", nargs="*", help="root keys (default: every root of the warehouse)")
    p.add_argument("--warehouse", help="DuckDB file (default: $PROFTRIAGE_STATE_DIR/warehouse.duckdb)")
    p.set_defaults(func=cmd_analyze)
    p = sub.add_parser("bundle", help="render markdown bundles from the stored reports of the warehouse")
    p.add_argument("--warehouse", help="DuckDB file (default: $PROFTRIAGE_STATE_DIR/warehouse.duckdb)")
    p.add_argument("--output-dir", help="folder for the bundles (default: $PROFTRIAGE_BUNDLES_DIR)")
    p.set_defaults(func=cmd_bundle)
    from pipeline.capture.cli import register as register_capture

    register_capture(sub)
    from pipeline.serve.cli import register as register_serve

    register_serve(sub)
    _plug_in(sub)
    return parser


PLUGIN_GROUP = "proftriage.commands"


def version() -> str:
    """The installed package's version (the project's, when run from a checkout without install)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("proftriage")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _plug_in(sub: argparse._SubParsersAction) -> None:
    """Add the commands of installed plugins (entry points of `PLUGIN_GROUP`: ``register(sub)``)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()(sub)
        except ImportError as exc:  # e.g. Dagster not installed: the engine commands still work
            print(f"note: commands of {ep.value} unavailable ({exc})", file=sys.stderr)


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    return exits.run(args.func, args)  # Ctrl-C → 130, SIGTERM → 143, closed stdout → 141


if __name__ == "__main__":
    sys.exit(main())
