"""Where the project's non-Python files live (SQL, templates, catalogs)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"
TEMPLATES_DIR = REPO_ROOT / "templates"
CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
EXAMPLES_DIR = REPO_ROOT / "tests" / "data" / "traces"  # the real-trace corpus: demo data root and test data


@lru_cache(maxsize=None)
def read_sql(name: str) -> str:
    """Return the text of `sql/<name>` (e.g. ``"schema/kernels.sql"``)."""
    path = SQL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: sql/{name}")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def read_catalog(name: str) -> dict:
    """Parse `pipeline/catalog/<name>` (TOML) into a dict."""
    import tomllib

    with open(CATALOG_DIR / name, "rb") as fh:
        return tomllib.load(fh)
