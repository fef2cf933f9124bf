"""`capture.json`: what was captured, from where and how, written beside the traces."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "capture.json"
TOOL = "proftriage"


def now_iso() -> str:
    """UTC timestamp in ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def single_rank(ranks: list[int | None]) -> int | None:
    """The rank when all files share one, else None (many or unknown)."""
    distinct = set(ranks)
    return distinct.pop() if len(distinct) == 1 else None


def write_manifest(directory: Path, record: dict[str, Any]) -> Path:
    """Write `capture.json` with the required keys first; `files` are names relative to it."""
    required = ("framework", "model", "stage", "role", "rank", "server_args", "server_info",
                "workload", "started_at", "finished_at", "files")
    missing = [k for k in required if k not in record]
    if missing:
        raise ValueError(f"capture manifest lacks {missing}")
    body = {k: record[k] for k in required}
    body.update({k: v for k, v in record.items() if k not in body})
    body["tool"] = TOOL
    path = directory / MANIFEST
    path.write_text(json.dumps(body, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest in `directory`, or None when there is none."""
    path = directory / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
