"""Runtime configuration, read from environment variables with project-relative defaults.

Every variable is documented in the README ("Configuration").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import REPO_ROOT


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Paths and thresholds for one deployment."""

    data_root: Path = field(default_factory=lambda: _env_path("PROFTRIAGE_DATA_ROOT", Path("/data")))
    state_dir: Path = field(default_factory=lambda: _env_path("PROFTRIAGE_STATE_DIR", REPO_ROOT / ".state"))
    warehouse: Path | None = field(default_factory=lambda: _env_path("PROFTRIAGE_WAREHOUSE", Path()) or None)
    bundles_dir: Path | None = field(default_factory=lambda: _env_path("PROFTRIAGE_BUNDLES_DIR", Path()) or None)
    matrix_file: Path = field(default_factory=lambda: _env_path("PROFTRIAGE_MATRIX", REPO_ROOT / "matrix.toml"))
    attribution_floor: float = field(default_factory=lambda: _env_float("PROFTRIAGE_ATTRIBUTION_FLOOR", 0.0))
    alignment_floor: float = field(default_factory=lambda: _env_float("PROFTRIAGE_ALIGNMENT_FLOOR", 0.0))
    workers: int = field(default_factory=lambda: int(os.environ.get("PROFTRIAGE_WORKERS", "0") or 0))
    peaks_file: Path | None = field(default_factory=lambda: _env_path("PROFTRIAGE_PEAKS", Path()) or None)
    models_file: Path | None = field(default_factory=lambda: _env_path("PROFTRIAGE_MODELS", Path()) or None)

    @property
    def warehouse_path(self) -> Path:
        if self.warehouse and str(self.warehouse) not in ("", "."):
            return self.warehouse
        return self.state_dir / "warehouse.duckdb"

    @property
    def bundles_path(self) -> Path:
        if self.bundles_dir and str(self.bundles_dir) not in ("", "."):
            return self.bundles_dir
        return self.state_dir / "bundles"

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"


def settings() -> Settings:
    """Settings from the current environment (re-read on every call)."""
    return Settings()
