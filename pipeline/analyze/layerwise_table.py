"""Kernel tables of vLLM layer-wise profiles, per step, with the module path as site.

Input: `layerwise_nodes` (vLLM `examples/offline_profile.py --json`, built by
``vllm/profiler/layerwise_profile.py``: `LayerwiseProfileResults._build_module_tree` /
``_build_stats_trees``; module names from ``vllm/profiler/utils.py:event_module_repr``; read at
vllm-project/vllm e4728e89 and ef9d090f; newer trees keep them under
``vllm/foundation/devtools/profiler/`` behind compatibility shims). How that file is read:

- a ``model_stats`` node is a *module* (name = class name plus its direct parameters, e.g.
  ``QKVParallelLinear(weight=bfloat16[6144, 4096])``; cuda time = the sum of its GPU activities;
  cpu time = the module call's duration) or a *leaf holding one GPU activity* (name = the Kineto
  GPU event's name, cuda time = that event's duration, cpu time = 0, ``trace`` = the torch ops
  between it and its module, innermost first). Kernels, memcpy and memset are all GPU activities,
  as in every other kernel table here.
- the tree has class names, not attribute paths (no ``model.layers.0``): the site is the chain of
  module names from the root to the activity's parent, ``' / '``-joined — the name path vLLM's
  ``summary_stats`` tree merges on, so the 32 decoder layers share one site.
- ``summary_stats`` merges the same tree by name path and counts ``invocations``: for a GPU leaf
  that is the number of activities on that path, i.e. the launches counted here.
- the step total (denominator of vLLM's ``pct_cuda_time``) is the sum over the roots, which is
  the sum over all GPU leaves: shares here are of that *summed kernel time* (no timeline exists,
  so there is no window, busy or idle time).
- upstream keeps only events with ``start_tid == 1`` ("for the tensor parallel case for now only
  look at task 1"): with TP > 1 the tables are one worker's view.

Rows, cutoff, families and coverage come from `pipeline.analyze.kernel_table` (one row per
display name, `pipeline.classify` families), so these tables follow the same rules as the
trace-based ones. SQL: ``sql/analyze/layerwise_kernels.sql``, ``sql/analyze/layerwise_steps.sql``.
"""

from __future__ import annotations

import re
from collections import defaultdict

import duckdb
import orjson

from pipeline.analyze.kernel_table import apply_cutoff, coverage, family_summary, kernel_rows
from pipeline.classify import classify_with_op, display_name
from pipeline.paths import read_sql
from pipeline.store import query_dicts
from pipeline.report.headline import headline

SOURCE = "vLLM layer-wise profile (examples/offline_profile.py --json, model_stats tree)"
ATTRIBUTION = "module_tree"  # coverage's by_attribution_ns key: site = the module path
_DECODE = re.compile(r"^decode_(\d+)$")


def step_stage(step: str) -> str:
    """Stage of a layer-wise section: ``prefill``, ``decode_N`` → decode, else unknown."""
    if step == "prefill":
        return "prefill"
    return "decode" if _DECODE.match(step) else "unknown"


def _step_order(step: str) -> tuple[int, int, str]:
    m = _DECODE.match(step)
    return (0, 0, step) if step == "prefill" else (1, int(m.group(1)), step) if m else (2, 0, step)


def layerwise_records(conn: duckdb.DuckDBPyConnection, file_ids: list[int]) -> list[dict]:
    """One record per GPU activity of the files' model trees, in the kernel-table record shape."""
    records = query_dicts(conn, read_sql("analyze/layerwise_kernels.sql"), [file_ids])
    for r in records:
        r["display_name"] = display_name(r["name"])
        r["family"] = classify_with_op(r["name"], r["cpu_op"])  # the op names truncated kernels
        r["site"] = r["module_path"]
        r["stage"] = step_stage(r["step"])
        r["attribution"] = ATTRIBUTION
        r["is_graph"] = False
    return records


def _table(records: list[dict], *, label: str, stage: str, steps: list[str], scope: str,
           cutoff_pct: float, kernel_limit: int | None) -> dict:
    rows = kernel_rows(records)
    shown, cutoff = apply_cutoff(rows, cutoff_pct)
    cutoff["rule"] = "per-row: rows whose share of the step's kernel time is below the cutoff are hidden"
    if kernel_limit:
        shown = shown[:kernel_limit]
    table = {
        "scope": scope,
        "label": label,
        "step": steps[0] if scope == "step" else None,
        "steps": steps,
        "stage": stage,
        "kernel_time_ns": sum(r["dur_ns"] for r in records),
        "kernel_count": len(records),
        "kernels": shown,
        "cutoff": cutoff,
        "families": family_summary(records),
        "coverage": coverage(records),
    }
    table["headline"] = headline({**table, "stage": label, "alignment": None})
    return table


def _context_facts(meta: dict) -> dict:
    ctx = meta.get("context") or {}
    args = ctx.get("engine_args") or {}
    return {
        "model": args.get("model"),
        "batch_size": ctx.get("batch_size"),
        "prompt_len": ctx.get("prompt_len"),
        "num_steps": ctx.get("num_steps"),
        "tensor_parallel_size": args.get("tensor_parallel_size"),
        "enforce_eager": args.get("enforce_eager"),
        "torch_version": ctx.get("torch_version"),
    }


def layerwise_report(conn: duckdb.DuckDBPyConnection, files: list[dict], cutoff_pct: float = 1.0,
                     kernel_limit: int | None = None) -> tuple[list[dict], list[dict]]:
    """(tables, sources) of the loaded layer-wise files among `files` (rows of `trace_files`).

    `tables`: one per step of each file, then one per stage holding more than one step (e.g.
    ``decode_1`` … ``decode_N``); `sources`: one per file, what it is and how it was captured.
    `files` need ``file_id, path, kind, status`` (rows ``ok`` or ``stale`` have nodes); the
    context (batch size, engine args …) is read from ``trace_files.metadata``.
    """
    chosen = [f for f in files if f.get("kind") == "layerwise" and f.get("status") in ("ok", "stale")]
    if not chosen:
        return [], []
    ids = [f["file_id"] for f in chosen]
    records = layerwise_records(conn, ids)
    steps = query_dicts(conn, read_sql("analyze/layerwise_steps.sql"), [ids])
    meta = {fid: orjson.loads(m) if m else {} for fid, m in conn.execute(
        read_sql("analyze/layerwise_metadata.sql"), [ids]).fetchall()}
    by_step: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in records:
        by_step[(r["file_id"], r["step"])].append(r)
    tables: list[dict] = []
    sources: list[dict] = []
    for f in chosen:
        mine = sorted((s for s in steps if s["file_id"] == f["file_id"]), key=lambda s: _step_order(s["step"]))
        file_tables: list[dict] = []
        for s in mine:
            t = _table(by_step[(f["file_id"], s["step"])], label=s["step"], stage=step_stage(s["step"]),
                       steps=[s["step"]], scope="step", cutoff_pct=cutoff_pct, kernel_limit=kernel_limit)
            t["tree_time_ns"] = s["tree_time_ns"]
            t["roots"] = s["roots"]
            file_tables.append(t)
        by_stage: dict[str, list[str]] = defaultdict(list)
        for s in mine:
            by_stage[step_stage(s["step"])].append(s["step"])
        for stage, names in by_stage.items():
            if len(names) < 2:
                continue
            members = [r for n in names for r in by_step[(f["file_id"], n)]]
            label = f"{stage} ({len(names)} steps: {names[0]} … {names[-1]})"
            t = _table(members, label=label, stage=stage, steps=names, scope="stage",
                       cutoff_pct=cutoff_pct, kernel_limit=kernel_limit)
            t["tree_time_ns"] = sum(s["tree_time_ns"] or 0 for s in mine if s["step"] in names)
            t["roots"] = None
            file_tables.append(t)
        for t in file_tables:
            t["file_id"], t["file"] = f["file_id"], f["path"]
        tables.extend(file_tables)
        sources.append({
            "file_id": f["file_id"], "path": f["path"], "source": SOURCE,
            "steps": [s["step"] for s in mine],
            **_context_facts(meta.get(f["file_id"]) or {}),
            "note": "per-step kernel tables from the module tree; no timeline, so no window, "
                    "overlap, launch-group or fusion analysis",
        })
    return tables, sources
