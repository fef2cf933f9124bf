"""`cross_root` attribution: graph replays take their site from another root of the same model, by layer slot.

For a root whose graph-replayed kernels still lack a site (no mapping trace, no eager step), the
warehouse may hold another root of the same framework and model with an eager forward pass (a
graph-off capture, or eager steps). The most recently captured such root lends site, CPU op, stack
and the op's input shapes to each kernel at the same layer and matched slot
(`pipeline.align.slotmap`). A candidate is refused — and the report says why — when it has no eager
forward pass, when its layer count differs, or when less than half of this root's layer time has a
matching slot in its template. The site is then known from another capture, not proven by this one:
``attribution = "cross_root"`` and ``mapped_from`` names the source root and its capture time.
"""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb

from pipeline.align import slotmap
from pipeline.attribute import attribute_files, ok_file_ids
from pipeline.layers import assign_layers
from pipeline.layers.detect import step_groups
from pipeline.paths import read_sql
from pipeline.stage import OUTSIDE, group_by_stage
from pipeline.store import query_dicts

MIN_SLOT_SHARE = 0.5


def captured_at(ns: int | None) -> str | None:
    """ISO-8601 UTC of an absolute ns timestamp."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="seconds")


def candidates(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    """Other roots of the same framework and model, most recent capture first (``root, captured_ns, files``)."""
    return query_dicts(conn, read_sql("align/cross_root_candidates.sql"), [root, root])


def source_records(conn: duckdb.DuckDBPyConnection, root: str) -> list[dict]:
    """Kernel records of another root's eager steps, with layer keys: from its stored `kernel_facts`, or
    attributed now when it has none stored (a root whose facts hold no eager step gives nothing)."""
    records = query_dicts(conn, read_sql("align/stored_facts.sql"), [root, root])
    if not records and not conn.execute(read_sql("align/facts_count.sql"), [root]).fetchall()[0][0]:
        records = _eager(attribute_files(conn, ok_file_ids(conn, root)), need_layers=False)
    if records and all(r.get("slot") is None for r in records):
        assign_layers(records)
    return records


def _eager(records: list[dict], need_layers: bool = True) -> list[dict]:
    """Records of the steps without any graph replay (that hold decoder layers, when `need_layers`)."""
    out = []
    for group in step_groups([r for r in records if r.get("stage") != OUTSIDE]):
        if not any(r.get("is_graph") for r in group) and \
                (not need_layers or any(r.get("layer") is not None for r in group)):
            out += group
    return out


def _count(records: list[dict]) -> int | None:
    layers = [r["layer"] for r in records if r.get("layer") is not None]
    return max(layers) + 1 if layers else None


def _slot_share(target: list[dict], source: list[dict]) -> float:
    """Share of the target's in-layer time whose slot has a counterpart in the source template."""
    matched = slotmap.match_slots(slotmap.template_of(target), slotmap.template_of(source))
    inside = [r for r in target if r.get("slot") is not None]
    total = sum(r["dur_ns"] for r in inside)
    return sum(r["dur_ns"] for r in inside if r["slot"] in matched) / total if total else 0.0


def _refusal(target: list[dict], eager: list[dict]) -> str | None:
    """Why `eager` cannot lend sites to `target` (None when it can)."""
    if not eager:
        return "no eager forward pass with decoder layers (its layers are graph replays, or it has none)"
    src = slotmap.source_stage(target[0]["stage"], eager)
    want, have = _count(target), _count(src)
    if want != have:
        return f"{have} layers per forward pass in its {src[0]['stage']} steps, this root has {want}"
    share = _slot_share(target, src)
    if share < MIN_SLOT_SHARE:
        return f"layer slots differ: only {share:.0%} of this root's layer time has a matching slot"
    return None


def _input_dims(conn: duckdb.DuckDBPyConnection, pairs: list[tuple[dict, dict]]) -> None:
    wanted = {(s["file_id"], s["cpu_op_ev"]) for _, s in pairs if s.get("cpu_op_ev") is not None}
    if not wanted:
        return
    rows = conn.execute(read_sql("align/op_input_dims.sql"),
                        [sorted({f for f, _ in wanted}), sorted({e for _, e in wanted})]).fetchall()
    dims = {(f, e): d for f, e, d in rows if (f, e) in wanted}
    for r, s in pairs:
        r["input_dims"] = dims.get((s["file_id"], s.get("cpu_op_ev")))


def attribute_cross_root(conn: duckdb.DuckDBPyConnection, root: str, records: list[dict],
                         sources: dict[str, list[dict]] | None = None) -> dict[str, dict]:
    """Give graph replays still without a site the site of another root's eager kernels (in place).

    `sources` (root → kernel records with layer keys) replaces reading a candidate's stored facts.
    Returns per stage: ``source_root``, ``captured_at``, ``source_stage``, ``layers``, the match rate
    (``by_count, by_time, kernels, mapped, time_ns, mapped_ns``) and ``refused[]`` (``root, reason``).
    """
    sources = sources or {}
    out: dict[str, dict] = {}
    cands = None
    loaded: dict[str, list[dict]] = {}
    for stage, kernels in group_by_stage(records).items():
        needed = [r for r in kernels if slotmap.needs_site(r)]
        if stage == OUTSIDE or not needed or _count(kernels) is None:
            continue
        cands = candidates(conn, root) if cands is None else cands
        refused, result = [], None
        for cand in cands:
            if cand["root"] not in loaded:
                loaded[cand["root"]] = _load(conn, cand, sources)
            why = _refusal(kernels, loaded[cand["root"]])
            if why:
                refused.append({"root": cand["root"], "reason": why})
                continue
            result = _transfer(conn, kernels, loaded[cand["root"]], cand, needed)
            break
        out[stage] = {**(result or {"source_root": None}), "refused": refused}
    return out


def _load(conn: duckdb.DuckDBPyConnection, cand: dict, sources: dict[str, list[dict]]) -> list[dict]:
    """A candidate's eager-step records with decoder layers: given by the caller, stored, or computed."""
    if cand["root"] in sources:
        return _eager(sources[cand["root"]])
    return _eager(source_records(conn, cand["root"]))


def _transfer(conn: duckdb.DuckDBPyConnection, kernels: list[dict], eager: list[dict], cand: dict,
              needed: list[dict]) -> dict:
    when = captured_at(cand["captured_ns"])
    label = f"root {cand['root']} (captured {when})"
    src = slotmap.source_stage(kernels[0]["stage"], eager)
    pairs = slotmap.slot_transfer(kernels, src, "cross_root", label)
    _input_dims(conn, pairs)
    rate = slotmap.rate(kernels, "cross_root", label, needed)
    return {"source_root": cand["root"], "captured_at": when, "source_stage": src[0]["stage"],
            "layers": _count(src), **rate}

