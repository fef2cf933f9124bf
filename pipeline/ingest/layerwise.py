"""vLLM layer-wise profiler JSON (`examples/offline_profile.py --json`) → `layerwise_nodes` rows.

Layout (vllm `vllm/profiler/layerwise_profile.py`): top-level ``context`` plus one object per
step (``prefill``, ``decode_1`` …), each with ``summary_stats`` and ``model_stats`` trees of
``{"entry": {...}, "children": [...]}`` nodes.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa

from pipeline.ingest.reader import TraceReadError, open_trace

TREES = {"model_stats": "model", "summary_stats": "summary"}


def _ns(value: object) -> int | None:
    return round(float(value) * 1000) if isinstance(value, (int, float)) else None


def _walk(nodes: list, step: str, tree: str, rows: list[dict], parent: int | None, depth: int) -> None:
    for node in nodes:
        entry = node.get("entry", {})
        index = len(rows)
        rows.append({
            "step": step, "tree": tree, "node": index, "parent": parent, "depth": depth,
            "name": entry.get("name"), "cuda_time_ns": _ns(entry.get("cuda_time_us")),
            "cpu_time_ns": _ns(entry.get("cpu_time_us")), "pct_cuda": entry.get("pct_cuda_time"),
            "invocations": entry.get("invocations"), "trace": entry.get("trace"),
        })
        _walk(node.get("children", []), step, tree, rows, index, depth + 1)


def load_layerwise(path: Path) -> tuple[list[dict], dict]:
    """Return (rows, context) of a layerwise JSON file."""
    try:
        with open_trace(path) as fh:
            doc = orjson.loads(fh.read())
    except (orjson.JSONDecodeError, EOFError, OSError) as exc:
        raise TraceReadError(f"{path}: invalid layerwise JSON ({exc})") from exc
    if not isinstance(doc, dict) or "context" not in doc:
        raise TraceReadError(f"{path}: not a vLLM layerwise profile (no 'context' key)")
    rows: list[dict] = []
    for step, stats in doc.items():
        if step == "context" or not isinstance(stats, dict):
            continue
        for key, tree in TREES.items():
            tree_rows: list[dict] = []
            _walk(stats.get(key, []), step, tree, tree_rows, None, 0)
            rows.extend(tree_rows)
    return rows, doc.get("context", {})


def layerwise_table(rows: list[dict], file_id: int) -> pa.Table:
    """Arrow table in `layerwise_nodes` column order."""
    cols = ["step", "tree", "node", "parent", "depth", "name", "cuda_time_ns", "cpu_time_ns",
            "pct_cuda", "invocations", "trace"]
    data = {"file_id": pa.array([file_id] * len(rows), pa.int64())}
    for col in cols:
        data[col] = pa.array([r[col] for r in rows])
    return pa.table(data)
