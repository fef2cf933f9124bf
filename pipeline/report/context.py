"""What a report knows about its root: the root row, its files, and the analyses' context."""

from __future__ import annotations

import duckdb
import orjson

from pipeline.analyze.protocol import RootContext
from pipeline.attribute import ok_file_ids
from pipeline.paths import read_sql
from pipeline.store import query_dicts

ROOT_KEYS = ("root", "path", "framework", "model", "run", "status", "reason", "server_args")


class RootNotFound(KeyError):
    """The root is not in the warehouse."""


def root_info(conn: duckdb.DuckDBPyConnection, root: str) -> dict:
    """The `trace_roots` row of `root` (docs/json-schema.md `root`)."""
    row = conn.execute(read_sql("report/root_info.sql"), [root]).fetchone()
    if row is None:
        raise RootNotFound(f"trace root {root!r} is not in the warehouse (ingest it first)")
    info = dict(zip(ROOT_KEYS, row))
    info["server_args"] = orjson.loads(info["server_args"]) if info["server_args"] else None
    return info


def platform_of(meta: dict) -> str:
    """``rocm`` or ``cuda`` from a file's top-level metadata."""
    if any(k.startswith(("roctracer", "hip_")) for k in meta):
        return "rocm"
    names = " ".join(str(d.get("name", "")) for d in meta.get("deviceProperties") or [])
    if "AMD" in names or "Instinct" in names:
        return "rocm"
    if any(d.get("warpSize") == 64 for d in meta.get("deviceProperties") or []):
        return "rocm"
    return "cuda"


def root_files(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    """The root's files (docs/json-schema.md `files`), by path."""
    ids = set(ok_file_ids(conn, root))
    rows = query_dicts(conn, read_sql("report/root_files.sql"), [root])
    for r in rows:
        r["loaded"] = r["file_id"] in ids
        meta = orjson.loads(r.pop("metadata")) if r.get("metadata") else {}
        r["platform"] = platform_of(meta)
        r["tp"] = (meta.get("distributedInfo") or {}).get("world_size")
        r["has_cpu"] = any(k.startswith(("X:cpu_op", "X:python_function")) for k in meta.get("_categories", {}))
    return rows


def file_ranks(files: list[dict]) -> list[int]:
    """Distinct ranks the root's files carry."""
    return sorted({f["rank"] for f in files if f["rank"] is not None})


def context_of(info: dict, timing: list[dict], mapping: list[dict], alignment: dict, device=None,
               rank_of: dict | None = None, notes: dict | None = None) -> RootContext:
    """The analyses' context for a view whose timing and mapping files are given (`rank_of`: every
    timing file's rank, root-wide, when the root has two or more ranks)."""
    return RootContext(
        root=info["root"], framework=info["framework"], model=info["model"],
        platform=next((f["platform"] for f in timing), "cuda"),
        tp=next((f["tp"] for f in timing if f["tp"]), None),
        has_cpu=any(f["has_cpu"] for f in timing + mapping),
        alignment=alignment, device=device, rank_of=rank_of or {}, notes=notes or {},
    )
