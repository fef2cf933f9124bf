"""One row per collective of a stage: transfer, wait per rank, late rank, bytes and bandwidths.

Sums over the collective's matched instances: ``transfer_ns`` = Σ transfer; per rank ``time_ns``
= Σ its durations and ``wait_ns`` = Σ (duration − transfer), so ``transfer_ns + wait_ns =
time_ns`` for every rank, to the ns. Bandwidths follow NVIDIA/nccl-tests doc/PERFORMANCE.md over
the transfer time (catalog `[[op]]`). Rules: docs/collectives.md.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pipeline.collectives.match import Instance, Matched

_FACTORS = {"2(n-1)/n": lambda n: 2 * (n - 1) / n, "(n-1)/n": lambda n: (n - 1) / n, "1": lambda n: 1.0}


def busbw_factor(collective: str | None, n: int | None, cfg: dict) -> tuple[str | None, float | None]:
    """(NCCL-tests kind, bus-bandwidth factor for n ranks) of a c10d collective name; (None, None)
    when the name is not catalogued or n is unknown."""
    for op in cfg["op"]:
        if collective in op["names"]:
            return op["kind"], (_FACTORS[op["factor"]](n) if n else None)
    return None, None


def _first(m: Matched, key: str):
    for inst in m.instances:
        for rec in inst.members.values():
            if rec.get(key) is not None:
                return rec[key]
    return None


def message_bytes(inst: Instance, cfg: dict) -> int | None:
    """NCCL-tests' S of one instance: max(in, out) elements × element size; None without metadata."""
    return record_message_bytes(next(iter(inst.members.values())), cfg)


def record_message_bytes(rec: dict, cfg: dict) -> int | None:
    """NCCL-tests' S of one collective kernel from its ``coll_*`` metadata; None without it."""
    size = cfg["dtype"]["bytes"].get(rec.get("coll_dtype"))
    n_in, n_out = rec.get("coll_in_nelems"), rec.get("coll_out_nelems")
    if size is None or (n_in is None and n_out is None):
        return None
    return max(n_in or 0, n_out or 0) * size


def bandwidth(m: Matched, transfer_ns: int, group_size: int | None, cfg: dict) -> dict:
    """``bytes, algbw_gbps, busbw_gbps, busbw_factor, nccl_kind`` (None where the trace lacks sizes)."""
    sizes = [message_bytes(i, cfg) for i in m.instances]
    kind, factor = busbw_factor(_first(m, "coll_name"), group_size, cfg)
    if not sizes or any(s is None for s in sizes):
        return {"bytes": None, "algbw_gbps": None, "busbw_gbps": None, "busbw_factor": factor, "nccl_kind": kind}
    total = sum(sizes)
    algbw = total / transfer_ns if transfer_ns else None  # bytes per ns = GB/s (1e9 bytes/s, as nccl-tests)
    return {"bytes": total, "algbw_gbps": algbw, "busbw_gbps": algbw * factor if algbw is not None and factor
            is not None else None, "busbw_factor": factor, "nccl_kind": kind}


def late_context(m: Matched, rank: int, cfg: dict, max_gap_ns: int) -> dict:
    """What `rank` was doing right before the instances it was late for: its GPU idle gap before the
    collective, the launch-bound part of it (the collective was launched after the gap began, gaps up
    to `max_gap_ns`), the CPU gap (launch of the previous GPU activity → the collective's launch), the
    outermost CPU ops in that CPU gap and the site its thread spent most of the gap in."""
    idle = bound = cpu_gap = count = 0
    ops: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sites: Counter = Counter()
    for inst in m.instances:
        if inst.late != rank:
            continue
        rec = inst.members[rank]
        count += 1
        prev_end, prev_launch = rec.get("gap_prev_end_ns"), rec.get("gap_prev_launch_ns")
        launch = rec.get("launch_ts_ns")
        gap = max(0, rec["ts_ns"] - prev_end) if prev_end is not None else 0
        idle += gap
        if gap and launch is not None and launch > prev_end and gap <= max_gap_ns:
            bound += gap
        window = launch - prev_launch if launch is not None and prev_launch is not None and launch > prev_launch else 0
        cpu_gap += window
        for op in rec.get("gap_cpu_ops") or ():
            name, n, t = (op["name"], op["count"], op["time_ns"]) if isinstance(op, dict) else op
            ops[name][0] += n
            ops[name][1] += t
        if rec.get("gap_site"):
            sites[rec["gap_site"]] += window + 1  # weighted by the gap it explains; +1 so empty gaps count
    top = sorted(ops.items(), key=lambda kv: (-kv[1][1], kv[0]))[: cfg["context"]["cpu_ops"]]
    return {"rank": rank, "instances": count, "gpu_idle_ns": idle, "launch_bound_ns": bound, "cpu_gap_ns": cpu_gap,
            "cpu_ops": [{"name": n, "count": c, "time_ns": t} for n, (c, t) in top],
            "site": max(sites, key=lambda s: (sites[s], s)) if sites else None}


def _late(m: Matched) -> tuple[Counter, int | None]:
    counts = Counter(i.late for i in m.instances if i.late is not None)
    if not m.comparable or not counts:
        return counts, None
    return counts, max(counts, key=lambda r: (counts[r], -r))


def collective_row(m: Matched, cfg: dict, world_size: int | None, max_gap_ns: int) -> dict:
    """The JSON row of one collective (fields in docs/json-schema.md, `stages[].collectives[]`)."""
    transfer = sum(i.transfer_ns for i in m.instances)
    time = {r: sum(i.dur(r) for i in m.instances) for r in m.ranks}
    counts, late = _late(m)
    first = m.instances[0].members[m.ranks[0]] if m.instances else {}
    group_size = _first(m, "coll_group_size") or world_size
    n = len(m.instances)
    return {
        "name": m.key.name,
        "family": first.get("family", "communication"),
        "collective": _first(m, "coll_name"),
        "group": m.key.group(),
        "process_group": m.key.pg,
        "stream": m.key.stream,
        "ranks": m.ranks,
        "group_size": group_size,
        "partial_group": bool(group_size and group_size > len(m.ranks)),
        "instances": n,
        "unmatched": m.unmatched,
        "mismatched": m.mismatched,
        "transfer_ns": transfer,
        "time_ns": sum(time.values()),
        "wait_ns": sum(time.values()) - transfer * len(m.ranks),
        "per_rank": [{"rank": r, "time_ns": time[r], "wait_ns": time[r] - transfer,
                      "late_count": counts.get(r, 0) if m.comparable else None,
                      **m.clock.get(r, {"aligned_share": None, "median_end_offset_ns": None})} for r in m.ranks],
        "ends_aligned": m.comparable,
        "late_rank": late,
        "late_share": counts[late] / n if late is not None else None,
        "late_rank_before": late_context(m, late, cfg, max_gap_ns) if late is not None else None,
        **bandwidth(m, transfer, group_size, cfg),
    }
