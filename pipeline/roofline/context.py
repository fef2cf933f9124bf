"""What a cost model may know about a trace file beyond one op's inputs: the model and the group size.

`file_contexts(conn, file_ids)` reads each file's model name and ``distributedInfo``
(`sql/roofline/file_context.sql`). The *group size* is the number of ranks a collective or a
sharded MoE spans: the size shared by every process group of more than one rank, else the
``world_size`` when no groups are listed; 1 when the trace is not distributed. Groups of different
sizes (TP inside DP, say) leave it unknown, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import orjson

from pipeline.paths import read_sql
from pipeline.roofline.architectures import Architecture, ModelsFileError, architecture_for, architectures_by_code


@dataclass(frozen=True)
class TraceContext:
    """Per-file facts for the cost models."""

    model: str | None = None
    group_size: int | None = 1
    group_note: str | None = None
    arch: Architecture | None = None
    arch_note: str | None = None
    by_code: tuple[Architecture, ...] = ()  # no named model: entries whose source file is on the stacks


def group_size(distributed: dict | None) -> tuple[int | None, str | None]:
    """(ranks of the file's multi-rank process groups, why unknown) from ``distributedInfo``."""
    if not isinstance(distributed, dict):
        return 1, None
    sizes = {g.get("pg_size") for g in distributed.get("pg_config") or [] if isinstance(g, dict)}
    sizes = {s for s in sizes if isinstance(s, int) and s > 1}
    if len(sizes) == 1:
        return sizes.pop(), None
    if sizes:
        return None, f"process groups of {sorted(sizes)} ranks: which one an op spans is not recorded"
    world = distributed.get("world_size")
    return (world if isinstance(world, int) and world >= 1 else 1), None


def file_contexts(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> dict[int, TraceContext]:
    """file_id → its `TraceContext`."""
    if not file_ids:
        return {}
    rows = conn.execute(read_sql("roofline/file_context.sql"), [sorted(file_ids)]).fetchall()
    out, archs = {}, {}
    codes = _model_code(conn, [fid for fid, model, _ in rows if model is None])
    for fid, model, distributed in rows:
        size, note = group_size(orjson.loads(distributed) if distributed else None)
        if model not in archs:
            try:
                archs[model] = (architecture_for(model), None)
            except ModelsFileError as exc:
                archs[model] = (None, str(exc))
        arch, arch_note = archs[model]
        by_code = _by_code(codes.get(fid)) if arch is None and arch_note is None else ()
        out[fid] = TraceContext(model, size, note, arch, arch_note, by_code)
    return out


def _model_code(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> dict[int, set[str]]:
    """file_id → the `models/<code>.py` files on its Python stacks (files that name no model only)."""
    if not file_ids:
        return {}
    out: dict[int, set[str]] = {}
    for fid, code in conn.execute(read_sql("roofline/model_code.sql"), [file_ids]).fetchall():
        out.setdefault(fid, set()).add(code)
    return out


def _by_code(codes: set[str] | None) -> tuple[Architecture, ...]:
    try:
        return architectures_by_code(codes) if codes else ()
    except ModelsFileError:
        return ()
