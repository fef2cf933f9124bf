"""The kernel table of one stage: which kernels dominate, from where, plus family and stage summaries.

Shares are of the stage's *summed kernel time* (sum of GPU activity durations). The cutoff is
a per-row cutoff: rows whose share is below it are hidden and the table reports how many rows
and how much time were hidden.
"""

from __future__ import annotations

from collections import Counter, defaultdict
TOP_SITES = 3


def busy_ns(kernels: list[dict]) -> int:
    """Length of the union of the kernels' intervals (any stream)."""
    spans = sorted((k["ts_ns"], k["ts_ns"] + k["dur_ns"]) for k in kernels)
    total, cur_s, cur_e = 0, None, None
    for s, e in spans:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def stage_summary(kernels: list[dict]) -> dict:
    """Window, busy, idle and summed kernel time, each with its definition."""
    if not kernels:
        return {"window_ns": 0, "busy_ns": 0, "idle_ns": 0, "kernel_time_ns": 0, "kernel_count": 0}
    start = min(k["ts_ns"] for k in kernels)
    end = max(k["ts_ns"] + k["dur_ns"] for k in kernels)
    busy = busy_ns(kernels)
    return {
        "window_ns": end - start,
        "busy_ns": busy,
        "idle_ns": end - start - busy,
        "kernel_time_ns": sum(k["dur_ns"] for k in kernels),
        "kernel_count": len(kernels),
        "definitions": {
            "window_ns": "first kernel start to last kernel end",
            "busy_ns": "union of kernel intervals on any stream",
            "idle_ns": "window minus busy",
            "kernel_time_ns": "sum of kernel durations (can exceed busy when streams overlap)",
        },
    }


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    idx = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[idx]


def _site_label(k: dict) -> str:
    if k.get("site"):
        return k["site"]
    if k.get("is_graph"):
        return "(graph replay, unmapped)"
    return "(unattributed)"


def _row(name: str, members: list[dict], total: int) -> dict:
    durs = sorted(k["dur_ns"] for k in members)
    time_ns = sum(durs)
    sites: Counter = Counter()
    ops: Counter = Counter()
    for k in members:
        sites[_site_label(k)] += k["dur_ns"]
        if k.get("cpu_op"):
            ops[k["cpu_op"]] += k["dur_ns"]
    top = [{"site": s, "share": t / time_ns if time_ns else 0.0} for s, t in sites.most_common(TOP_SITES)]
    return {
        "name": name,
        "family": members[0]["family"],
        "time_ns": time_ns,
        "share": time_ns / total if total else 0.0,
        "launches": len(members),
        "mean_ns": time_ns // len(members),
        "p50_ns": _percentile(durs, 0.5),
        "max_ns": durs[-1],
        "site": top[0]["site"] if top else None,
        "sites": top,
        "cpu_op": ops.most_common(1)[0][0] if ops else None,
    }


def kernel_rows(kernels: list[dict]) -> list[dict]:
    """All rows by display name, largest first, with cumulative share."""
    total = sum(k["dur_ns"] for k in kernels)
    groups: dict[str, list[dict]] = defaultdict(list)
    for k in kernels:
        groups[k["display_name"]].append(k)
    rows = sorted((_row(n, m, total) for n, m in groups.items()), key=lambda r: (-r["time_ns"], r["name"]))
    cumulative = 0
    for r in rows:
        cumulative += r["time_ns"]
        r["cumulative_share"] = cumulative / total if total else 0.0
    return rows


def apply_cutoff(rows: list[dict], cutoff_pct: float) -> tuple[list[dict], dict]:
    """Keep rows with share ≥ cutoff %; report what was hidden."""
    keep = [r for r in rows if r["share"] * 100 >= cutoff_pct] if cutoff_pct > 0 else list(rows)
    hidden = [r for r in rows if r not in keep] if len(keep) != len(rows) else []
    return keep, {
        "cutoff_pct": cutoff_pct,
        "rule": "per-row: rows whose share of stage kernel time is below the cutoff are hidden",
        "hidden_rows": len(hidden),
        "hidden_time_ns": sum(r["time_ns"] for r in hidden),
        "hidden_share": sum(r["share"] for r in hidden),
    }


def family_summary(kernels: list[dict]) -> list[dict]:
    """Time, share and count per family, largest first."""
    total = sum(k["dur_ns"] for k in kernels)
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for k in kernels:
        agg[k["family"]][0] += k["dur_ns"]
        agg[k["family"]][1] += 1
    rows = [{"family": f, "time_ns": t, "share": t / total if total else 0.0, "launches": n}
            for f, (t, n) in agg.items()]
    return sorted(rows, key=lambda r: (-r["time_ns"], r["family"]))


def coverage(kernels: list[dict]) -> dict:
    """How much kernel time reached a CPU op and a site, and by which attribution path."""
    total = sum(k["dur_ns"] for k in kernels)
    by_how: Counter = Counter()
    for k in kernels:
        by_how[k["attribution"]] += k["dur_ns"]
    cpu = sum(k["dur_ns"] for k in kernels if k.get("cpu_op"))
    site = sum(k["dur_ns"] for k in kernels if k.get("site"))
    return {
        "kernel_time_ns": total,
        "cpu_op_ns": cpu,
        "site_ns": site,
        "cpu_op_share": cpu / total if total else 0.0,
        "site_share": site / total if total else 0.0,
        "by_attribution_ns": dict(sorted(by_how.items())),
    }
