"""Dagster resources: where the warehouse, the trace data and the outputs live.

Every field defaults to "" which means "ask `pipeline.config.settings()` at run time", so the
environment (PROFTRIAGE_*) is read when a step runs, not when the code location is imported.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb

from pipeline.config import settings
from pipeline.paths import read_sql
from pipeline.store import Warehouse


def _or_default(value: str, default: Path) -> Path:
    return Path(value).expanduser() if value else default


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. Connections are queued across processes by `pipeline.store`'s file lock."""

    path: str = ""

    def warehouse(self, lock_timeout_s: float | None = None) -> Warehouse:
        """The engine's `Warehouse` object for this path (`lock_timeout_s`: how long a connection
        waits for another process; default the engine's)."""
        if lock_timeout_s is None:
            return Warehouse(self.resolved_path())
        return Warehouse(self.resolved_path(), lock_timeout_s=lock_timeout_s)

    def resolved_path(self) -> Path:
        """The configured path, else `$PROFTRIAGE_WAREHOUSE`, else `<state_dir>/warehouse.duckdb`."""
        return _or_default(self.path, settings().warehouse_path)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One serialised connection with the schema in place, closed on every path."""
        with self.warehouse().connect() as conn:
            yield conn


class TracePaths(dg.ConfigurableResource):
    """The data root to discover trace roots in, and the state / bundle output folders."""

    data_root: str = ""
    bundles_dir: str = ""
    state_dir: str = ""

    def data_root_path(self) -> Path:
        return _or_default(self.data_root, settings().data_root)

    def bundles_path(self) -> Path:
        return _or_default(self.bundles_dir, settings().bundles_path)

    def state_path(self) -> Path:
        return _or_default(self.state_dir, settings().state_dir)

    def spool_path(self) -> Path:
        """Parquet spool for parsed files (under the state dir)."""
        return self.state_path() / "spool"

    def reports_path(self) -> Path:
        """Per-root JSON reports: `<state_dir>/reports/<root key>.json`."""
        return self.state_path() / "reports"

    def matrix_path(self) -> Path:
        """The nightly matrix file (`$PROFTRIAGE_MATRIX`, default `matrix.toml` at the repo root)."""
        return settings().matrix_file


class QualityFloors(dg.ConfigurableResource):
    """Minimum shares the asset checks enforce (negative = use the environment / settings)."""

    attribution_floor: float = -1.0
    alignment_floor: float = -1.0

    def attribution(self) -> float:
        return self.attribution_floor if self.attribution_floor >= 0 else settings().attribution_floor

    def alignment(self) -> float:
        return self.alignment_floor if self.alignment_floor >= 0 else settings().alignment_floor


# --- metadata helpers shared by the asset modules -------------------------------------------

def column_schema(conn: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """`dagster/column_schema` of a warehouse table, read from DuckDB's catalog."""
    rows = conn.execute(read_sql("meta/columns.sql"), [table]).fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype), description=comment) for name, dtype, comment in rows])


def percent(share: float | None) -> dg.MetadataValue:
    """A share (0–1) as a percentage float for the UI (0.987 → 98.7); null when unknown. Every
    share in this project's metadata goes through here, under a key ending in ``_pct``."""
    return dg.MetadataValue.null() if share is None else dg.MetadataValue.float(round(float(share) * 100, 2))


def md_table(rows: list[dict], columns: list[str], limit: int = 10,
             shares: tuple[str, ...] = ("share", "by_time", "by_count")) -> dg.MetadataValue:
    """A short markdown preview (first `limit` rows) for the UI; `shares` columns as percentages."""
    def cell(column: str, value: object) -> str:
        if isinstance(value, float) and column in shares:
            text = f"{value * 100:.1f} %"
        else:
            text = f"{value:.3g}" if isinstance(value, float) else str("" if value is None else value)
        return text.replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… {len(rows) - limit} more rows")
    return dg.MetadataValue.md("\n".join(lines))
