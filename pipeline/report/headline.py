"""One computed sentence per stage: what dominates, where it comes from, how much is attributed."""

from __future__ import annotations

from typing import Callable


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


def alignment_phrase(alignment: dict) -> str:
    """How much graph-replayed time got a site, and from what (the stored `alignment.source`: a
    mapping trace, or the eager steps of the same trace)."""
    source = alignment.get("source") or "an unrecorded source"
    return f"{pct(alignment.get('by_time'))} of the graph-replayed kernel time that needed a site got one from the {source}"


def _kernel_time(stage: dict) -> str:
    """The stage's kernel time, net of same-stream (PDL) overlap when there is any: the shares' base."""
    same = stage.get("pdl_overlap_ns") or 0
    same += (stage.get("anomalies") or {}).get("same_stream_contained_ns", 0)
    if not same:
        return f"{fmt_ns(stage['kernel_time_ns'])} kernel time"
    return (f"{fmt_ns(stage['kernel_time_ns'] - same)} kernel time net of {fmt_ns(same)} same-stream (PDL) "
            "overlap")


def headline(stage: dict, name: Callable[[str], str] = str) -> str:
    """What dominates a stage, in one sentence computed from its numbers; `name` formats kernel
    names and sites (markdown puts them in code spans)."""
    if not stage["kernel_count"]:
        return f"{stage['stage']}: no GPU kernels."
    fam = stage["families"][0]
    top = stage["kernels"][0] if stage["kernels"] else None
    parts = [
        f"{stage['stage']}: {fam['family']} dominates with {pct(fam['share'])} of "
        f"{_kernel_time(stage)} ({stage['kernel_count']} kernels)"
    ]
    if top:
        where = f" from {name(top['site'])}" if top.get("site") and not top["site"].startswith("(") else ""
        parts.append(f"; the largest kernel is {name(top['name'])} at {pct(top['share'])}{where}")
    cov = stage["coverage"]
    parts.append(f"; {pct(cov['site_share'])} of kernel time reaches a model/framework site")
    if stage.get("alignment"):
        parts.append(f"; {alignment_phrase(stage['alignment'])}")
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
