"""What changed besides kernel time, read from the two stored stage objects: the stage totals,
fusion statuses, launch groups, attribution coverage and alignment (docs/diff.md)."""

from __future__ import annotations

from collections import defaultdict

TOTAL_MEASURES = ("kernel_time_ns", "kernel_count", "window_ns", "busy_ns", "idle_ns", "launch_bound_ns", "steps",
                  "per_step_ns")


def _measures(stage: dict | None) -> dict:
    if not stage:
        return {m: None for m in TOTAL_MEASURES}
    summary = stage.get("summary") or {}
    steps = stage.get("steps") or 0
    return {
        "kernel_time_ns": stage["kernel_time_ns"], "kernel_count": stage["kernel_count"],
        "window_ns": summary.get("window_ns"), "busy_ns": stage.get("busy_ns"), "idle_ns": stage.get("idle_ns"),
        "launch_bound_ns": stage.get("launch_bound_ns"), "steps": steps,
        "per_step_ns": round(stage["kernel_time_ns"] / steps) if steps else None,
    }


def _delta(b: float | None, v: float | None) -> float | None:
    return None if b is None or v is None else v - b


def totals(base: dict | None, variant: dict | None) -> dict:
    """Per measure ``{base, variant, delta}``: kernel time and count, window, busy, idle, launch-bound,
    steps and kernel time per step (None where a side lacks the stage or the measure)."""
    b, v = _measures(base), _measures(variant)
    return {m: {"base": b[m], "variant": v[m], "delta": _delta(b[m], v[m])} for m in TOTAL_MEASURES}


def _cov(stage: dict | None) -> dict | None:
    cov = (stage or {}).get("coverage")
    if not cov:
        return None
    return {k: cov.get(k) for k in ("cpu_op_share", "site_share", "by_attribution_ns")}


def coverage(base: dict | None, variant: dict | None) -> dict:
    """Attribution coverage of both sides and the change of the CPU-op and site shares."""
    b, v = _cov(base), _cov(variant)
    return {"base": b, "variant": v,
            "delta_cpu_op_share": _delta((b or {}).get("cpu_op_share"), (v or {}).get("cpu_op_share")),
            "delta_site_share": _delta((b or {}).get("site_share"), (v or {}).get("site_share"))}


def _align(stage: dict | None) -> dict | None:
    a = (stage or {}).get("alignment")
    return {k: a.get(k) for k in ("by_time", "by_count", "source")} if a else None


def alignment(base: dict | None, variant: dict | None) -> dict:
    """Alignment match rates of both sides (None: no alignment needed there) and the change by time."""
    b, v = _align(base), _align(variant)
    return {"base": b, "variant": v, "delta_by_time": _delta((b or {}).get("by_time"), (v or {}).get("by_time"))}


def _fusion_change(b: str | None, v: str | None) -> str:
    if b is None:
        return "new"
    if v is None:
        return "gone"
    return v if v in ("fused", "split") else "changed"


def fusions(base: dict | None, variant: dict | None) -> list[dict]:
    """Catalogued patterns whose status differs (or that one side lacks), largest time first."""
    b = {f["pattern"]: f for f in (base or {}).get("fusions") or []}
    v = {f["pattern"]: f for f in (variant or {}).get("fusions") or []}
    rows = []
    for pattern in [*b, *(p for p in v if p not in b)]:
        fb, fv = b.get(pattern), v.get(pattern)
        sb, sv = (fb or {}).get("status"), (fv or {}).get("status")
        if sb == sv:
            continue
        row = {"pattern": pattern, "title": (fv or fb)["title"], "base_status": sb, "variant_status": sv,
               "base_time_ns": (fb or {}).get("time_ns", 0), "variant_time_ns": (fv or {}).get("time_ns", 0),
               "change": _fusion_change(sb, sv)}
        rows.append(row)
    return sorted(rows, key=lambda r: (-max(r["base_time_ns"], r["variant_time_ns"]), r["pattern"]))


def _groups(stage: dict | None) -> dict[tuple, dict[tuple, dict]]:
    out: dict[tuple, dict[tuple, dict]] = defaultdict(dict)
    for g in (stage or {}).get("launch_groups") or []:
        out[(g["cpu_op"], g["site"])][tuple(g["kernels"])] = g
    return out


def _largest(groups: list[dict]) -> dict | None:
    return max(groups, key=lambda g: (g["time_ns"], g["kernels"])) if groups else None


def launch_groups(base: dict | None, variant: dict | None) -> list[dict]:
    """CPU ops (at a site) whose set of launched chains differs: the largest chain each side lacks."""
    b, v = _groups(base), _groups(variant)
    rows = []
    for key in [*b, *(k for k in v if k not in b)]:
        chains_b, chains_v = b.get(key, {}), v.get(key, {})
        if set(chains_b) == set(chains_v):
            continue
        gb = _largest([g for c, g in chains_b.items() if c not in chains_v])
        gv = _largest([g for c, g in chains_v.items() if c not in chains_b])
        row = {"cpu_op": key[0], "site": key[1],
               "base_kernels": list(gb["kernels"]) if gb else None,
               "variant_kernels": list(gv["kernels"]) if gv else None,
               "base_occurrences": gb["occurrences"] if gb else 0,
               "variant_occurrences": gv["occurrences"] if gv else 0,
               "change": "new" if not chains_b else "gone" if not chains_v else "changed",
               "_time": max(gb["time_ns"] if gb else 0, gv["time_ns"] if gv else 0)}
        rows.append(row)
    rows.sort(key=lambda r: (-r["_time"], str(r["cpu_op"]), str(r["site"])))
    for r in rows:
        del r["_time"]
    return rows
