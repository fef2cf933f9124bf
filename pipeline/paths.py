"""Where the project's non-Python files live (SQL, templates, catalogs), and safe joins of
paths built from keys (root keys, model and framework names) under an output folder."""

from __future__ import annotations

import os
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


class UnsafePath(ValueError):
    """A path built from a key would land outside its folder (``..``, an absolute part)."""


def safe_join(base: Path, *parts: str) -> Path:
    """``base / part / …``, refused with `UnsafePath` unless the result stays under `base`.

    The check is on the normalised text (``..`` and absolute parts resolved lexically, as the
    operating system will when the file is opened), so a key can never write outside its folder.
    """
    joined = Path(base).joinpath(*parts)
    root, target = os.path.normpath(os.path.abspath(base)), os.path.normpath(os.path.abspath(joined))
    if os.path.commonpath([root, target]) != root or target == root:
        raise UnsafePath(f"refusing to write {joined}: {'/'.join(parts)!r} does not stay inside {base}")
    return joined
