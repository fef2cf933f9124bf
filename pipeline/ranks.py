"""Per-rank views for ``triage --all-ranks``: each kernel row's time on every rank and each stage's
straggler (JSON fields in docs/json-schema.md).

A rank's *stage time* is the summed duration of that stage's GPU activities (kernels, memcpy,
memset) on that rank — the stage's ``kernel_time_ns`` restricted to the rank. Durations only:
the ranks' clocks need not agree (an SGLang merged trace reads every rank against rank 0's
``baseTimeNanoseconds``), so no cross-rank timestamps are compared.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

STAGE_TIME = "summed GPU activity time (kernels + memcpy + memset) of this stage on the rank"


def rank_of_files(files: list[dict]) -> dict[int, int]:
    """file_id → rank for the files that know their rank."""
    return {f["file_id"]: f["rank"] for f in files if f.get("rank") is not None}


def rank_spread(kernels: list[dict], rank_of: dict[int, int], rows: list[dict]) -> dict | None:
    """Add ``rank_time_ns`` to every kernel row and return the stage's per-rank summary.

    ``rows`` are the stage's kernel-table rows (keyed by display name). Returns None (and adds
    nothing) when the files hold fewer than two ranks.
    """
    ranks = sorted(set(rank_of.values()))
    if len(ranks) < 2:
        return None
    by_name: dict[str, Counter] = defaultdict(Counter)
    time: Counter = Counter()
    count: Counter = Counter()
    for k in kernels:
        r = rank_of.get(k["file_id"])
        if r is None:
            continue
        by_name[k["display_name"]][r] += k["dur_ns"]
        time[r] += k["dur_ns"]
        count[r] += 1
    for row in rows:
        row["rank_time_ns"] = {str(r): by_name[row["name"]].get(r, 0) for r in ranks}
    per_rank = [{"rank": r, "time_ns": time[r], "kernels": count[r]} for r in ranks]
    median = statistics.median(p["time_ns"] for p in per_rank)
    # furthest from the median; ties (always the case with two ranks) go to the slower rank
    worst = max(per_rank, key=lambda p: (abs(p["time_ns"] - median), p["time_ns"], -p["rank"]))
    deviation = worst["time_ns"] - median
    return {
        "definition": f"stage time = {STAGE_TIME}",
        "ranks": ranks,
        "per_rank": per_rank,
        "median_ns": round(median),
        "straggler": {
            "rank": worst["rank"],
            "time_ns": worst["time_ns"],
            "deviation_ns": round(deviation),
            "deviation_share": deviation / median if median else None,
            "rule": "the rank whose stage time is furthest from the median across ranks "
                    "(ties: the slower rank)",
        },
    }
