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

The SQL is ``sql/ingest/split_merged.sql`` (the move, one statement per event table) and the
``sql/ingest/merged_*.sql`` steps around it. Re-loading a root deletes the virtual files with
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
from pipeline.store import file_id_for, run_statements, settle

KIND = "merged_rank"
_LABEL_RE = re.compile(r"^(?:TP|DP|PP|EP)\d+(?:-(?:TP|DP|PP|EP)\d+)*$")
_PART_RE = re.compile(r"(TP|DP|PP|EP)(\d+)")


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
    cur = conn.execute(read_sql("ingest/merged_carry.sql"), [root, ids])
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
        names = settle(conn).table("trace_files").columns  # carry_split's rows hold every column, in order
        rows = pa.table(dict(zip(names, map(list, zip(*carried)))))
        conn.from_arrow(rows).insert_into("trace_files")
    merged = conn.execute(read_sql("ingest/merged_files.sql"), [root]).fetchall()
    out: dict[str, list[int]] = {}
    for file_id, path in merged:
        labels = _labels(conn, file_id)
        if labels:
            _split_one(conn, root, file_id, path, labels)
        out[path] = sorted({lab.tp for lab in labels if lab.tp is not None})
    return out


def _labels(conn: duckdb.DuckDBPyConnection, file_id: int) -> list[RankLabel]:
    rows = conn.execute(read_sql("ingest/merged_labels.sql"), {"file_id": file_id}).fetchall()
    found = {r[0] for r in rows if r[0]}
    labels = [lab for lab in map(parse_label, sorted(found)) if lab is not None and lab.tp is not None]
    return sorted(labels, key=lambda lab: (lab.tp, lab.dp or 0, lab.pp or 0, lab.ep or 0, lab.label))


def _split_one(conn: duckdb.DuckDBPyConnection, root: str, file_id: int, path: str, labels: list[RankLabel]) -> None:
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
    conn.register("_merged_split", split)
    try:
        run_statements(conn, "ingest/split_merged.sql", [])  # every event table with a pid
        conn.execute(read_sql("ingest/merged_children.sql"))
        left = conn.execute(read_sql("ingest/merged_left.sql"), [file_id]).fetchone()[0]
        note = (f"SGLang merged trace split by pid label into {len(labels)} per-rank files "
                f"({', '.join('#' + lab.label for lab in labels)})"
                + (f"; {left} kernels without a rank label stay here" if left else ""))
        conn.execute(read_sql("ingest/merged_parent.sql"), [file_id, note, file_id])
    finally:
        conn.unregister("_merged_split")
