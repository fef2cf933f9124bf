"""Series: the captures of one configuration, in capture order (docs/diff.md "Previous run").

A root's series key is (framework, model, stages of its report, ranks, roles of its files, capture
settings): the settings are its server args and its `capture.json` workload, without the keys that
differ between two captures of one configuration (hosts, ports, paths, times). Its capture time
comes from the trace itself where it has an epoch clock: the earliest GPU activity on the clock of
``baseTimeNanoseconds`` (Kineto's relative timestamps) or of absolute timestamps; else from
`capture.json` ``started_at``; else the ingest time, said as such. The previous run of a root is
the root of its series captured last before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import orjson

from pipeline.diff.store import report_built_at
from pipeline.diff.tables import insert_rows
from pipeline.store import settle
from pipeline.paths import read_sql
from pipeline.store import query_dicts, run_statements, transaction

CAPTURE_FILE = "capture.json"
VOLATILE_KEYS = frozenset({"host", "port", "url", "tool", "started_at", "finished_at", "files", "server_info",
                           "role", "rank", "ranks", "stage", "output_dir", "trace_dir"})
VOLATILE_SUFFIXES = ("_host", "_port", "_url", "_addr", "_dir", "_path", "_file", "_at", "_time")
FROM_TRACE = "trace clock"  # the first GPU activity on the baseTimeNanoseconds / absolute-timestamp clock
FROM_CAPTURE = "capture.json started_at"
FROM_INGEST = "ingest time"  # neither the trace nor capture.json gives a capture time


@dataclass(frozen=True)
class SeriesRow:
    """One `diff_series` row (previous is set once every row of the series is stored)."""

    root: str
    series: str
    framework: str | None
    model: str | None
    stages: list[str]
    ranks: list[int]
    roles: list[str]
    settings: dict
    captured_at: dt.datetime
    captured_from: str
    report_built_at: dt.datetime | None


def capture_manifest(root_path: str | None) -> dict | None:
    """`capture.json` of a root directory (or of its formal/ or mapping/ folder), if readable."""
    if not root_path:
        return None
    for folder in ("", "formal", "mapping"):
        path = Path(root_path) / folder / CAPTURE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return None


def _stable(value: object) -> object:
    """`value` without volatile keys, recursively (dict keys sorted by the JSON dump later)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()
                if k not in VOLATILE_KEYS and not k.endswith(VOLATILE_SUFFIXES)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def settings_of(server_args: dict | None, manifest: dict | None) -> dict:
    """The capture settings that define a configuration: server args and the capture workload."""
    out = {"server_args": _stable(server_args or (manifest or {}).get("server_args") or {})}
    if manifest and manifest.get("workload") is not None:
        out["workload"] = _stable(manifest["workload"])
    return out


def _parse_iso(text: object) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def captured(first_ts_ns: int | None, manifest: dict | None, loaded_at: dt.datetime) -> tuple[dt.datetime, str]:
    """(capture time in UTC, where it came from)."""
    if first_ts_ns:
        return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=first_ts_ns // 1000), FROM_TRACE
    started = _parse_iso((manifest or {}).get("started_at")) if manifest else None
    if started is not None:
        return started, FROM_CAPTURE
    return loaded_at, FROM_INGEST


def series_key(framework: str | None, model: str | None, stages: list[str], ranks: list[int], roles: list[str],
               settings: dict) -> str:
    """A short stable hash of what makes two captures comparable."""
    text = json.dumps([framework, model, stages, ranks, roles, settings], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def series_row(conn: duckdb.DuckDBPyConnection, root: str, info: dict, ranks: list[int]) -> SeriesRow:
    """The series row of a root whose report is current (`info`: its `trace_roots` row as the report has it)."""
    [cap] = query_dicts(settle(conn), read_sql("diff/root_capture.sql"), [root, root, root, root])
    manifest = capture_manifest(cap["path"])
    server_args = orjson.loads(cap["server_args"]) if cap["server_args"] else None
    settings = settings_of(server_args, manifest)
    stages = [r["stage"] for r in query_dicts(settle(conn), read_sql("diff/report_stage_names.sql"), [root])]
    roles = list(cap["roles"] or [])
    when, source = captured(cap["first_ts_ns"], manifest, cap["loaded_at"])
    key = series_key(info["framework"], info["model"], stages, ranks, roles, settings)
    return SeriesRow(root, key, info["framework"], info["model"], stages, ranks, roles, settings, when, source,
                     report_built_at(conn, root))


def record_series(conn: duckdb.DuckDBPyConnection, rows: list[SeriesRow]) -> None:
    """Replace the `diff_series` rows of these roots and recompute every root's previous run."""
    stamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with transaction(conn):
        run_statements(conn, "diff/series_delete.sql", [[r.root for r in rows]])
        insert_rows(conn, "diff_series", [{**asdict(r), "previous": None, "recorded_at": stamp} for r in rows])
        conn.execute(read_sql("diff/series_previous.sql"))


def latest_of_series(conn: duckdb.DuckDBPyConnection, roots: list[str]) -> list[dict]:
    """Among `roots`, the last capture of each series: root, previous, series, captured_at."""
    return query_dicts(settle(conn), read_sql("diff/series_latest.sql"), [roots])
