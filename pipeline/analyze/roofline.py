"""Speed of light per stage: roofline time, % of peak and recoverable time per kernel row.

Input: one stage's kernels (records or a pyarrow.Table) carrying the cost facts of
`pipeline.roofline.costs` (``flops, bytes, dtype, cost_model, cost_note``), and the trace's
`Device`. Per kernel: roofline time = max(FLOPs / peak at the op's dtype, bytes / HBM bandwidth);
the larger term names the bound (arithmetic intensity vs the ridge point); a collective's bytes are
bus bytes over the interconnect instead (bound ``interconnect``); peak % = roofline time /
time; recoverable = time − roofline time (never below 0; a kernel above its roof says why in
`note`). Rows aggregate by display name like the kernel table. Rules: docs/roofline.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import pyarrow as pa

from pipeline.analyze.table import columns_of
from pipeline.roofline.devices import Device
from pipeline.roofline.models.comm import MODEL as COLLECTIVE
from pipeline.roofline.models.gemm import GEMM_MODELS

TOP_ROWS = 10
_COLS = ("display_name", "name", "family", "dur_ns", "flops", "bytes", "dtype", "cost_model", "cost_note", "site",
         "cpu_op")
DEFINITIONS = {
    "roofline_ns": "time at the binding roof: max(FLOPs / dense peak at the op's dtype, bytes / HBM bandwidth); "
                   "collectives: bus bytes / interconnect bandwidth (one direction)",
    "link_bytes": "bus bytes of the collectives (NCCL-tests busbw rule), priced at the interconnect roof; not in bytes",
    "peak_pct": "roofline time / kernel time × 100 = achieved share of the binding roof",
    "recoverable_ns": "kernel time − roofline time (0 when at or above the roof)",
    "modelled_ns": "kernel time whose launching op has a cost model (FLOPs and bytes from recorded shapes; "
                   "MoE ops from the model's published config; collectives from their message size)",
    "mfu": "Σ FLOPs / peak at their dtype ÷ stage GPU busy time",
    "mbu": "Σ bytes / HBM bandwidth ÷ stage GPU busy time",
    "achieved_tflops": "Σ FLOPs ÷ stage GPU busy time",
}


@dataclass
class _Agg:
    """Sums over a set of kernels."""

    time_ns: int = 0
    modelled_ns: int = 0
    roofed_ns: int = 0
    flops: int = 0
    bytes: int = 0  # HBM
    link_bytes: int = 0  # collectives' bus bytes
    gemm_flops: int = 0
    roofline_ns: float = 0.0
    recoverable_ns: float = 0.0
    compute_ns: float = 0.0  # Σ FLOPs / peak
    memory_ns: float = 0.0  # Σ bytes / bandwidth
    bound_ns: dict = field(default_factory=lambda: defaultdict(int))
    dtype_ns: dict = field(default_factory=lambda: defaultdict(int))
    unmodelled: dict = field(default_factory=lambda: defaultdict(int))  # why no model / no roof → ns
    notes: dict = field(default_factory=lambda: defaultdict(int))  # caveats of modelled kernels → ns


def _lists(kernels: Any) -> list[Sequence]:
    if isinstance(kernels, pa.Table):
        return [kernels.column(c).to_pylist() if c in kernels.column_names else [None] * kernels.num_rows
                for c in _COLS]
    return columns_of(kernels, _COLS)


def _link_terms(nbytes: int, dur: int, device: Device) -> tuple[float, float, float, str | None] | str:
    """(0, 0, interconnect ns, note) of one collective, or why it has no roof."""
    if not device.link_tbps:
        return f"no interconnect peak for {device.spec.model} in the catalog"
    link = nbytes / (device.link_tbps * 1e3)
    note = "above the interconnect roof: in-switch reduction (NVLS) moves fewer bytes than the ring rule" \
        if link > dur > 0 else None
    return 0.0, 0.0, link, note


def _roof_terms(flops: int, nbytes: int, dtype: str | None, dur: int, device: Device,
                model: str | None = None) -> tuple[float, float, float, str | None] | str:
    """(compute ns, memory ns, interconnect ns, note) of one costed kernel, or why it has no roof."""
    if not device.matched:
        return "device not in the catalog: no roof"
    if model == COLLECTIVE:
        return _link_terms(nbytes, dur, device)
    memory = nbytes / (device.hbm_tbps * 1e3)
    compute, note = 0.0, None
    if flops:
        peak = device.peak_tflops(dtype)
        if peak is None:
            return f"no {dtype} peak for {device.spec.model} in the catalog"
        compute = flops / (peak * 1e3)
        tf32 = device.peak_tflops("tf32")
        if dtype == "fp32" and tf32 and max(compute, memory) > dur > 0:
            compute, note = flops / (tf32 * 1e3), "faster than the FP32 peak: TF32 was on, TF32 roof used"
        elif dtype == "fp32":
            note = "FP32 roof (TF32 off, PyTorch's default; the trace does not record the setting)"
    roof = max(compute, memory)
    if roof > dur > 0:
        above = "above the catalog peak: check the dtype or override the peaks" if compute > memory \
            else "above the HBM roof: data served from on-chip cache"
        note = above + (f"; {note}" if note else "")
    elif roof == 0:
        note = "the op moves no data (empty tensors): nothing to recover"
    return compute, memory, 0.0, note


def _bound(compute: float, memory: float, link: float, flops: int) -> str:
    if link > 0 and link >= max(compute, memory):
        return "interconnect"
    return "compute" if compute >= memory and flops else "memory"


def kernel_roof(flops: int | None, nbytes: int | None, dtype: str | None, dur: int, device: Device,
                model: str | None = None) -> tuple[float | None, str | None, str | None]:
    """(roofline ns, bound, note) of one costed kernel; roofline None (note: why) when no roof applies."""
    if flops is None or nbytes is None:
        return None, None, None
    terms = _roof_terms(flops, nbytes, dtype, dur, device, model)
    if isinstance(terms, str):
        return None, None, terms
    compute, memory, link, note = terms
    return max(compute, memory, link), _bound(compute, memory, link, flops), note


def _add(agg: _Agg, dur: int, flops, nbytes, dtype, model, note, terms) -> None:
    agg.time_ns += dur
    if flops is None:
        agg.unmodelled[note or "no model"] += dur
        return
    agg.modelled_ns += dur
    agg.flops += flops
    if model == COLLECTIVE:
        agg.link_bytes += nbytes
    else:
        agg.bytes += nbytes
    if model in GEMM_MODELS:
        agg.gemm_flops += flops
    agg.dtype_ns[dtype] += dur
    if isinstance(terms, str):
        agg.unmodelled[f"no roof: {terms}"] += dur
        return
    compute, memory, link, roof_note = terms
    for n in filter(None, (note, roof_note)):
        agg.notes[n] += dur
    roof = max(compute, memory, link)
    agg.roofed_ns += dur
    agg.roofline_ns += roof
    agg.recoverable_ns += max(0.0, dur - roof)
    agg.compute_ns += compute
    agg.memory_ns += memory
    agg.bound_ns[_bound(compute, memory, link, flops)] += dur


@dataclass
class Aggregate:
    """One stage's sums: the totals, per display name, and per name its family, top site and top op.
    Build it once per stage (`aggregate`) and pass it to the functions below."""

    total: _Agg
    rows: dict[str, _Agg]
    info: dict[str, dict]


def aggregate(kernels: Any, device: Device) -> Aggregate:
    """Sum one stage's kernels (records or a pyarrow.Table with the cost columns) against `device`."""
    total, rows = _Agg(), defaultdict(_Agg)
    info: dict[str, dict] = {}
    site_t: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    op_t: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for disp, name, fam, dur, flops, nbytes, dtype, model, note, site, op in zip(*_lists(kernels)):
        key = disp or name
        dur = dur or 0
        terms = _roof_terms(flops, nbytes, dtype, dur, device, model) \
            if flops is not None and nbytes is not None else None
        _add(total, dur, flops, nbytes, dtype, model, note, terms)
        _add(rows[key], dur, flops, nbytes, dtype, model, note, terms)
        info.setdefault(key, {"family": fam})
        site_t[key][site] += dur
        op_t[key][op] += dur
    for key in info:  # the site and CPU op holding most of the row's time (ties: a known one, then by name)
        info[key]["site"] = max(site_t[key], key=lambda s: (site_t[key][s], s is not None, str(s)))
        info[key]["cpu_op"] = max(op_t[key], key=lambda o: (op_t[key][o], o is not None, str(o)))
    return Aggregate(total, dict(rows), info)


def _agg(kernels_or_agg: Any, device: Device) -> Aggregate:
    return kernels_or_agg if isinstance(kernels_or_agg, Aggregate) else aggregate(kernels_or_agg, device)


def _top(d: dict) -> Any:
    return max(d, key=lambda k: (d[k], str(k))) if d else None


def row_figures(a: _Agg) -> dict:
    """The speed-of-light fields of one kernel row (kernel table and stage top rows)."""
    why = {**a.unmodelled, **a.notes}
    notes = sorted(why, key=lambda n: (-why[n], n))
    return {
        "modelled_ns": a.modelled_ns,
        "flops": a.flops if a.modelled_ns else None,
        "bytes": a.bytes + a.link_bytes if a.modelled_ns else None,
        "dtype": _top(a.dtype_ns),
        "achieved_tflops": a.flops / a.modelled_ns / 1e3 if a.modelled_ns and a.flops else None,
        "achieved_tbps": (a.bytes + a.link_bytes) / a.modelled_ns / 1e3 if a.modelled_ns else None,
        "peak_pct": 100 * a.roofline_ns / a.roofed_ns if a.roofed_ns else None,
        "bound": _top(a.bound_ns),
        "roofline_ns": round(a.roofline_ns) if a.roofed_ns else None,
        "recoverable_ns": round(a.recoverable_ns) if a.roofed_ns else None,
        "note": "; ".join(notes[:3]) or None,
    }


def annotate_kernel_rows(rows: list[dict], kernels: Any, device: Device) -> None:
    """Add the speed-of-light fields (`row_figures`) to kernel-table rows, matched by name
    (`kernels`: the stage's kernels or their `Aggregate`)."""
    per_name = _agg(kernels, device).rows
    for r in rows:
        r.update(row_figures(per_name.get(r["name"], _Agg())))


def _unmodelled(total: _Agg) -> list[dict]:
    out = [{"reason": n, "time_ns": t, "share": t / total.time_ns if total.time_ns else 0.0}
           for n, t in total.unmodelled.items()]
    return sorted(out, key=lambda x: (-x["time_ns"], x["reason"]))[:12]


def roofline_stage(kernels: Any, device: Device, busy_ns: int, top: int = TOP_ROWS) -> dict:
    """`stages[].roofline`: totals, MFU/MBU over the stage's busy time, top rows by recoverable time
    (`kernels`: the stage's kernels or their `Aggregate`)."""
    agg = _agg(kernels, device)
    total, per_name, info = agg.total, agg.rows, agg.info
    rows = []
    for name, agg in per_name.items():
        if agg.roofed_ns:
            rows.append({"name": name, **info[name], "time_ns": agg.time_ns, **row_figures(agg)})
    rows.sort(key=lambda r: (-r["recoverable_ns"], r["name"]))
    return {
        "device": device.spec.key if device.matched else None,
        "gemm_flops": total.gemm_flops,
        "flops": total.flops,
        "bytes": total.bytes,
        "link_bytes": total.link_bytes,
        "kernel_time_ns": total.time_ns,
        "busy_ns": busy_ns,
        "modelled_ns": total.modelled_ns,
        "modelled_share": total.modelled_ns / total.time_ns if total.time_ns else 0.0,
        "roofline_ns": round(total.roofline_ns) if total.roofed_ns else None,
        "recoverable_ns": round(total.recoverable_ns) if total.roofed_ns else None,
        "achieved_tflops": total.flops / busy_ns / 1e3 if busy_ns and total.modelled_ns else None,
        "mfu": total.compute_ns / busy_ns if busy_ns and total.roofed_ns else None,
        "mbu": total.memory_ns / busy_ns if busy_ns and total.roofed_ns else None,
        "rows": rows[:top],
        "unmodelled": _unmodelled(total),
        "note": None if device.matched else (device.note or "device unknown: no roofline figures"),
        "definitions": DEFINITIONS,
    }


def _recoverable_of(per_name: dict[str, _Agg], names: Sequence[str]) -> tuple[float, int]:
    rec = sum(per_name[n].recoverable_ns for n in names if n in per_name)
    roofed = sum(per_name[n].roofed_ns for n in names if n in per_name)
    return rec, roofed


def add_expected_gains(overlap_rows: list[dict], fusion_rows: list[dict], kernels: Any, device: Device) -> None:
    """`expected_gain_ns` on overlap and fusion rows: the recoverable time of the kernels they address.

    Overlap row (one kernel name): its recoverable time × exposed / time (only exposed time is on
    the critical path). Fusion row: its ``time_ns`` × the recoverable fraction of the kernels named
    in its evidence (a split chain brought to its roofline); ``fused`` rows address nothing new (0).
    None (with ``expected_gain_note``) when none of the row's kernels has a roof.
    """
    per_name = _agg(kernels, device).rows
    for r in overlap_rows:
        rec, roofed = _recoverable_of(per_name, [r["name"]])
        exposed = r.get("exposed_ns", 0) / r["time_ns"] if r.get("time_ns") else 0.0
        _gain(r, round(rec * exposed) if roofed else None)
    for f in fusion_rows:
        if f.get("status") == "fused":
            _gain(f, 0)
            continue
        rec, roofed = _recoverable_of(per_name, f.get("evidence") or [])
        _gain(f, round(f.get("time_ns", 0) * rec / roofed) if roofed else None)


def _gain(row: dict, gain: int | None) -> None:
    row["expected_gain_ns"] = gain
    row["expected_gain_note"] = None if gain is not None else "no roofline model for these kernels"


def combine(parts: dict[Any, dict]) -> dict:
    """Per-rank `roofline_stage` results summed (each rank on its own busy time); rows merged by name."""
    parts = {k: v for k, v in parts.items() if v}
    if not parts:
        return {}
    first = next(iter(parts.values()))
    add = ("gemm_flops", "flops", "bytes", "link_bytes", "kernel_time_ns", "busy_ns", "modelled_ns")
    out = {k: sum(p[k] for p in parts.values()) for k in add}
    opt = ("roofline_ns", "recoverable_ns")
    out.update({k: (sum(p[k] for p in parts.values() if p[k] is not None)
                    if any(p[k] is not None for p in parts.values()) else None) for k in opt})
    busy = out["busy_ns"]
    out["modelled_share"] = out["modelled_ns"] / out["kernel_time_ns"] if out["kernel_time_ns"] else 0.0
    out["achieved_tflops"] = out["flops"] / busy / 1e3 if busy else None
    for k in ("mfu", "mbu"):
        vals = [(p[k], p["busy_ns"]) for p in parts.values() if p[k] is not None]
        out[k] = sum(v * b for v, b in vals) / busy if vals and busy else None
    rows: dict[str, dict] = {}
    for p in parts.values():
        for r in p["rows"]:
            rows.setdefault(r["name"], []).append(r)  # type: ignore[arg-type]
    out["rows"] = sorted((_merge_rows(rs) for rs in rows.values()),  # type: ignore[arg-type]
                         key=lambda r: (-r["recoverable_ns"], r["name"]))[:TOP_ROWS]
    why: dict[str, int] = defaultdict(int)
    for p in parts.values():
        for u in p["unmodelled"]:
            why[u["reason"]] += u["time_ns"]
    time = out["kernel_time_ns"]
    out["unmodelled"] = sorted(({"reason": r, "time_ns": t, "share": t / time if time else 0.0} for r, t in why.items()),
                               key=lambda x: (-x["time_ns"], x["reason"]))[:12]
    out.update(device=first["device"], note=first["note"], definitions=DEFINITIONS)
    return out


def _merge_rows(rs: list[dict]) -> dict:
    out = dict(max(rs, key=lambda r: r["time_ns"]))
    for k in ("time_ns", "modelled_ns", "flops", "bytes", "roofline_ns", "recoverable_ns"):
        out[k] = sum(r[k] or 0 for r in rs)
    m = out["modelled_ns"]
    out["achieved_tflops"] = out["flops"] / m / 1e3 if m else None
    out["achieved_tbps"] = out["bytes"] / m / 1e3 if m else None
    roofed = sum(r["modelled_ns"] for r in rs if r["roofline_ns"] is not None)
    out["peak_pct"] = 100 * out["roofline_ns"] / roofed if roofed else None
    return out


class Roofline:
    """Stage field ``roofline``, the speed-of-light fields of every kernel row and the
    ``expected_gain_ns`` of the overlap and fusion rows (runs after those analyzers)."""

    name = "roofline"

    def _annotate(self, part, done: dict) -> Aggregate:
        device = part.ctx.device
        agg = aggregate(part.table, device)
        annotate_kernel_rows(done["kernels"], agg, device)
        add_expected_gains(done["overlap"], done["fusions"], agg, device)
        return agg

    def run(self, part, done: dict) -> dict:
        agg = self._annotate(part, done)
        return {"roofline": roofline_stage(agg, part.ctx.device, done["busy_ns"])}

    def combine(self, parts: dict, whole, done: dict) -> dict:
        self._annotate(whole, done)
        return {"roofline": combine({r: p["roofline"] for r, p in parts.items()}) or None}
