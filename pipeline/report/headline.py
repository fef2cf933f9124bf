"""One computed sentence per stage: what dominates, where it comes from, how much is attributed."""

from __future__ import annotations


def fmt_ns(ns: int | float | None) -> str:
    """Human duration: 1.23 ms, 45.6 µs, 789 ns."""
    if ns is None:
        return "–"
    ns = float(ns)
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def pct(share: float | None) -> str:
    """0.1234 → '12.3 %'."""
    return "–" if share is None else f"{share * 100:.1f} %"


def headline(stage: dict) -> str:
    """What dominates a stage, in one sentence computed from its numbers."""
    if not stage["kernel_count"]:
        return f"{stage['stage']}: no GPU kernels."
    fam = stage["families"][0]
    top = stage["kernels"][0] if stage["kernels"] else None
    parts = [
        f"{stage['stage']}: {fam['family']} dominates with {pct(fam['share'])} of "
        f"{fmt_ns(stage['kernel_time_ns'])} kernel time ({stage['kernel_count']} kernels)"
    ]
    if top:
        where = f" from {top['site']}" if top.get("site") and not top["site"].startswith("(") else ""
        parts.append(f"; the largest kernel is {top['name']} at {pct(top['share'])}{where}")
    cov = stage["coverage"]
    parts.append(f"; {pct(cov['site_share'])} of kernel time reaches a model/framework site")
    if stage.get("alignment"):
        parts.append(f", {pct(stage['alignment'].get('by_time'))} mapped from the mapping trace")
    return "".join(parts) + "." + host_bound_sentence(stage.get("host_bound"))


def host_bound_sentence(hb: dict | None) -> str:
    """`` Host-bound ceiling: …`` (leading space), or "" when the stage has no host_bound figures."""
    if not hb or not hb.get("window_ns"):
        return ""
    window = hb["window_ns"]
    waits = [f"GPU idle {pct(hb['gpu_idle_ns'] / window)}"]
    if hb.get("launch_bound_ns"):
        waits.append(f"launch-bound {pct(hb['launch_bound_ns'] / window)}")
    if hb.get("collective_wait_ns"):
        waits.append(f"waiting for other ranks in collectives {pct(hb['collective_wait_ns'] / window)}")
    return (f" Host-bound ceiling: GPU-side kernel savings can recover at most {pct(hb['ceiling_share'])} of the "
            f"stage's wall time ({fmt_ns(hb['ceiling_ns'])} of {fmt_ns(window)}; {', '.join(waits)}).")
