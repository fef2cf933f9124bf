"""Launch groups: the ordered chain of kernels one CPU op instance launches.

A chain of two or more kernels behind one op (a cuBLAS GEMM and its ``splitKreduce_kernel``,
FlashAttention-3's prepare → forward → combine behind ``sgl_kernel::fwd``, cub's
``DeviceScanInitKernel`` → ``DeviceScanKernel``) can be intercepted as one unit. A group is
*invariant* when every instance of that op (same op name and same Python call path) launched the
same chain; rows with the same op, site and chain from several call paths are merged.
Graph replays are excluded: one replay launches a whole graph, not an op's chain.
"""

from __future__ import annotations

from collections import defaultdict


def _instances(kernels: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for k in kernels:
        if k.get("cpu_op_ev") is not None and not k.get("is_graph") and k.get("attribution") != "mapped":
            out[(k["file_id"], k["cpu_op_ev"])].append(k)
    return out


def _chains_by_call_path(kernels: list[dict]) -> dict[tuple, dict[tuple, list[int]]]:
    chains: dict[tuple, dict[tuple, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for members in _instances(kernels).values():
        members.sort(key=lambda k: (k["ts_ns"], k["ev"]))
        first = members[0]
        op = (first.get("cpu_op") or "?", first.get("site"), tuple(first.get("stack") or ()))
        stats = chains[op][tuple(k["display_name"] for k in members)]
        stats[0] += 1
        stats[1] += sum(k["dur_ns"] for k in members)
    return chains


def launch_groups(kernels: list[dict], min_kernels: int = 2) -> list[dict]:
    """Rows ``cpu_op, site, kernels, occurrences, invariant, time_ns, variants``, largest time first."""
    merged: dict[tuple, dict] = {}
    for (op, site, _stack), variants in _chains_by_call_path(kernels).items():
        for chain, (count, time_ns) in variants.items():
            if len(chain) < min_kernels:
                continue
            row = merged.setdefault((op, site, chain), {
                "cpu_op": op, "site": site, "kernels": list(chain), "occurrences": 0,
                "invariant": True, "time_ns": 0, "variants": 1,
            })
            row["occurrences"] += count
            row["time_ns"] += time_ns
            row["invariant"] = row["invariant"] and len(variants) == 1
            row["variants"] = max(row["variants"], len(variants))
    return sorted(merged.values(), key=lambda r: (-r["time_ns"], r["cpu_op"]))
