"""The two sides of `proftriage diff`: a trace file or root directory is ingested and analysed into the
warehouse first (the one-shot order of `triage --input`: ingest → facts → report), a root key is
read from the warehouse as stored; then both stored reports are compared (`diff_roots`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from pipeline.diff.compare import diff_sides
from pipeline.diff.sides import load_side, read_options
from pipeline.discover import DiscoveryError, TraceRoot, resolve_inputs
from pipeline.ingest import ingest_root
from pipeline.ingest.parse import Progress
from pipeline.report.context import RootNotFound, root_info
from pipeline.report.triage import ensure_report
from pipeline.store import Warehouse


class DiffInputError(ValueError):
    """A side that names no trace, several roots, or a root the warehouse does not hold."""


def is_path(arg: str) -> bool:
    """Whether a side names a file or directory (a path wins over a root key of the same spelling)."""
    return Path(arg).expanduser().exists()


def trace_root_of(arg: str) -> TraceRoot:
    """The one trace root a file or directory names."""
    try:
        roots = resolve_inputs([Path(arg)])
    except (DiscoveryError, FileNotFoundError) as exc:
        raise DiffInputError(f"{arg}: {exc}") from exc
    if len(roots) != 1:
        keys = ", ".join(r.key for r in roots[:5]) + (" …" if len(roots) > 5 else "")
        found = f"{len(roots)} trace roots ({keys})" if roots else "no trace file"
        raise DiffInputError(f"{arg}: holds {found}; give one trace file, one trace root, or a root key")
    return roots[0]


def prepare_side(arg: str, warehouse: Warehouse, spool: Path, taken: set[str],
                 progress: Progress | None = None) -> str:
    """The root key of one side; a path is ingested and analysed into `warehouse` first (a key another
    side already uses gets the suffix ``@variant``, so the two sides never share rows)."""
    if not is_path(arg):
        with warehouse.connect() as conn:
            try:
                root_info(conn, arg)
            except RootNotFound as exc:
                raise DiffInputError(f"{arg}: not a file or directory, and {exc.args[0]}") from exc
        return arg
    root = trace_root_of(arg)
    if root.key in taken:
        root = dataclasses.replace(root, key=f"{root.key}@variant")
    summary = ingest_root(root, warehouse, spool, progress)
    if summary.files and not summary.ok:
        raise DiffInputError(f"{arg}: no file could be loaded: " + "; ".join(summary.errors[:3]))
    with warehouse.connect() as conn:
        ensure_report(conn, root.key)
    return root.key


def diff_roots(conn: duckdb.DuckDBPyConnection, base: str, variant: str, *, stage: str | None = None,
               rank: int | None = None, all_ranks: bool = False, labels: tuple[str, str] | None = None) -> dict:
    """The diff of two roots' stored reports (every row; `pipeline.diff.present.apply_cutoff` trims)."""
    opts = read_options(rank, all_ranks)
    labels = labels or (base, variant)
    return diff_sides(load_side(conn, base, opts, labels[0]), load_side(conn, variant, opts, labels[1]), stage)
