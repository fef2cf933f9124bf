"""Split an SGLang merged trace back into ranks, inside the root's load transaction.

SGLang's ``ProfileMerger`` (sgl-project/sglang ``python/sglang/srt/utils/profile_merger.py``)
writes ``merged-{profile_id}.trace.json.gz``: the per-rank files concatenated, every event's pid
rewritten to ``"[TP00-DP01-PP02-EP03] {old pid}"``. Discovery skips the merged file when the
per-rank files sit beside it (``pipeline/discover/walk.py`` ``_shadow_merged``), so a kernel is never
counted twice; when the merged file is alone, this module re-keys its rows into one *virtual*
trace file per rank label:

* ``trace_files`` row: path ``merged-….trace.json.gz#TP01``, ``kind = 'merged_rank'``,
  ``rank`` = the label's TP number, everything else from the merged file's row;
* every event table with a pid (kernels … trace_meta) moves the labelled rows to that
  ``file_id`` with the label stripped, so attribution, stages and tables see the rank exactly as
  if its own file had been loaded (correlation ids, Python ids and pids no longer collide
  across ranks);
* rows whose pid carries no rank label (``[Unknown] …``, or no label at all) stay with the
  merged file, whose ``kernels`` count and ``note`` are updated.

The SQL is ``sql/ingest/split_merged.sql``. Re-loading a root deletes the virtual files with
the merged file's other rows; when a re-parse fails and the merged file's previous rows are kept
(``stale``), its virtual files are kept too (``carry_split``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa

from pipeline.paths import read_sql
from pipeline.store import file_id_for

KIND = "merged_rank"
_LABEL_RE = re.compile(r"^(?:TP|DP|PP|EP)\d+(?:-(?:TP|DP|PP|EP)\d+)*$")
_PART_RE = re.compile(r"(TP|DP|PP|EP)(\d+)")
_SECTION_RE = re.compile(r"^-- @(\w+)", re.M)


@dataclass(frozen=True)
class RankLabel:
    """One rank label of a merged trace (``[TP01-EP01]`` → tp 1, ep 1)."""

    label: str  # without brackets
    tp: int | None
    dp: int | None
    pp: int | None
    ep: int | None

    @property
    def prefix(self) -> str:
        return f"[{self.label}] "


def parse_label(label: str) -> RankLabel | None:
    """The parallel ranks of a label (without brackets); None when it names none (``Unknown``)."""
    if not label or not _LABEL_RE.match(label):
        return None
    parts = {k.lower(): int(v) for k, v in _PART_RE.findall(label)}
    return RankLabel(label, parts.get("tp"), parts.get("dp"), parts.get("pp"), parts.get("ep"))


def split_pid(pid: str | None) -> tuple[RankLabel | None, str | None]:
    """``'[TP01] 6584'`` → (label TP01, ``'6584'``); a pid without a rank label → (None, pid)."""
    if pid and pid.startswith("[") and "] " in pid:
        head, _, rest = pid.partition("] ")
        label = parse_label(head[1:])
        if label is not None:
            return label, rest
    return None, pid


def _sections() -> dict[str, str]:
    text = read_sql("ingest/split_merged.sql")
    marks = list(_SECTION_RE.finditer(text))
    return {m.group(1): text[m.end(): nxt.start() if nxt else len(text)].split("\n", 1)[1].strip().rstrip(";")
            for m, nxt in zip(marks, marks[1:] + [None])}


def _pid_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(table, has a device column) for every event table keyed by file_id that has a pid."""
    rows = conn.execute(
        "SELECT table_name, bool_or(column_name = 'device') FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal "
        "AND table_name <> 'trace_files' "
        "GROUP BY table_name HAVING bool_or(column_name = 'file_id') AND bool_or(column_name = 'pid') "
        "ORDER BY table_name"
    ).fetchall()
    return [(r[0], bool(r[1])) for r in rows]


def carry_split(conn: duckdb.DuckDBPyConnection, root: str, keep: set[int],
                previous: dict[int, str]) -> list[tuple]:
    """``trace_files`` rows (all columns, table order) of the virtual files of kept merged files.

    ``keep`` holds the ids whose previous rows survive a failed re-parse; a merged file among
    them keeps its per-rank virtual files too, marked ``stale`` like it.
    """
    kept_paths = {previous[fid] for fid in keep if fid in previous}
    ids = [fid for fid, path in previous.items() if "#" in path and path.split("#", 1)[0] in kept_paths]
    if not ids:
        return []
    cur = conn.execute("SELECT * FROM trace_files WHERE root = ? AND list_contains(?, file_id)", [root, ids])
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    status, error = cols.index("status"), cols.index("error")
    out = []
    for row in rows:
        row = list(row)
        row[status] = "stale"
        row[error] = "the merged file failed to re-load; keeping this rank's rows of the previous load"
        out.append(tuple(row))
    return out


def split_merged(conn: duckdb.DuckDBPyConnection, root: str, carried: list[tuple] = ()) -> dict[str, list[int]]:
    """Split every freshly loaded merged file of ``root`` into per-rank virtual files.

    Call inside the load transaction, after the spools were copied. ``carried`` (from
    ``carry_split``) are re-inserted first. Returns merged path → ranks it was split into.
    """
    if carried:
        conn.executemany(f"INSERT INTO trace_files VALUES ({', '.join('?' * len(carried[0]))})", list(carried))
    merged = conn.execute(
        "SELECT file_id, path FROM trace_files WHERE root = ? AND kind = 'merged' AND status = 'ok' ORDER BY path",
        [root],
    ).fetchall()
    if not merged:
        return {}
    sql = _sections()
    tables = _pid_tables(conn)
    out: dict[str, list[int]] = {}
    for file_id, path in merged:
        labels = _labels(conn, sql["labels"], tables, file_id)
        if labels:
            _split_one(conn, sql, tables, root, file_id, path, labels)
        out[path] = sorted({lab.tp for lab in labels if lab.tp is not None})
    return out


def _labels(conn: duckdb.DuckDBPyConnection, query: str, tables: list[tuple[str, bool]], file_id: int) -> list[RankLabel]:
    found: set[str] = set()
    for table, _ in tables:
        found.update(r[0] for r in conn.execute(query.replace("{table}", table), [file_id]).fetchall() if r[0])
    labels = [lab for lab in map(parse_label, sorted(found)) if lab is not None and lab.tp is not None]
    return sorted(labels, key=lambda lab: (lab.tp, lab.dp or 0, lab.pp or 0, lab.ep or 0, lab.label))


def _split_one(conn: duckdb.DuckDBPyConnection, sql: dict[str, str], tables: list[tuple[str, bool]], root: str,
               file_id: int, path: str, labels: list[RankLabel]) -> None:
    paths = [f"{path}#{lab.label}" for lab in labels]
    split = pa.table({
        "file_id": pa.array([file_id] * len(labels), pa.int64()),
        "label": pa.array([lab.label for lab in labels], pa.string()),
        "prefix": pa.array([lab.prefix for lab in labels], pa.string()),
        "child_id": pa.array([file_id_for(root, p) for p in paths], pa.int64()),
        "path": pa.array(paths, pa.string()),
        "rank": pa.array([lab.tp for lab in labels], pa.int32()),
        "info": pa.array([orjson.dumps({"from": path, "label": f"[{lab.label}]", "tp": lab.tp, "dp": lab.dp,
                                        "pp": lab.pp, "ep": lab.ep}).decode() for lab in labels], pa.string()),
    })
    conn.register("_merged_split_arrow", split)
    try:
        conn.execute("CREATE OR REPLACE TEMP TABLE _merged_split AS SELECT * FROM _merged_split_arrow")
        for table, has_device in tables:
            conn.execute(sql["move_gpu" if has_device else "move"].replace("{table}", table))
            conn.execute(sql["drop"].replace("{table}", table))
        conn.execute(sql["children"])
        left = conn.execute("SELECT count(*) FROM kernels WHERE file_id = ?", [file_id]).fetchone()[0]
        note = (f"SGLang merged trace split by pid label into {len(labels)} per-rank files "
                f"({', '.join('#' + lab.label for lab in labels)})"
                + (f"; {left} kernels without a rank label stay here" if left else ""))
        conn.execute(sql["parent"], [file_id, note, file_id])
    finally:
        conn.execute("DROP TABLE IF EXISTS _merged_split")
        conn.unregister("_merged_split_arrow")
