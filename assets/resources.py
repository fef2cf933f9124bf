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

    def warehouse(self) -> Warehouse:
        """The engine's `Warehouse` object for this path."""
        return Warehouse(self.resolved_path())

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


def md_table(rows: list[dict], columns: list[str], limit: int = 10) -> dg.MetadataValue:
    """A short markdown preview (first `limit` rows) for the UI."""
    def cell(value: object) -> str:
        text = f"{value:.3g}" if isinstance(value, float) else str("" if value is None else value)
        return text.replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… {len(rows) - limit} more rows")
    return dg.MetadataValue.md("\n".join(lines))
