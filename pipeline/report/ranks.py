"""Per-rank views for ``triage --all-ranks``: each kernel row's time on every rank, each stage's
straggler, and the stage's timeline figures computed per rank and summed (JSON fields in
docs/json-schema.md).

A rank's *stage time* is the summed duration of that stage's GPU activities (kernels, memcpy,
memset) on that rank — the stage's ``kernel_time_ns`` restricted to the rank. Durations only:
the ranks' clocks need not agree (an SGLang merged trace reads every rank against rank 0's
``baseTimeNanoseconds``), so no cross-rank timestamps are compared.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from pipeline.analyze.fusion import LEVEL_ORDER, TOP_SITES
from pipeline.analyze.overlap import category_sets, dep_risk_of, family_rows, judgement, load_config

STAGE_TIME = "summed GPU activity time (kernels + memcpy + memset) of this stage on the rank"
WAIT_RULE = ("the rank that waits least at this stage's collectives (mean wait per matched instance it took part in; "
             "ties: the rank late most often, then the lowest): the others wait for it. wait = duration − transfer, "
             "transfer = the shortest duration across the ranks of an instance (docs/collectives.md)")


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


# ---------------------------------------------------------------------------- per-rank timelines
#
# Window, busy, idle, launch-bound, multi-stream time, category overlap, overlap rows and fusions
# read kernel *timestamps*, so with --all-ranks they are computed on each rank's own timeline
# (each rank is its own GPU with its own clock base) and then combined here: sums, and rows merged
# by key with their times and counts summed.

TIMELINE_RULE = ("each rank is its own GPU on its own clock: window, busy, idle, launch-bound, ≥ 2 streams, "
                 "category overlap, overlap rows and fusions are computed on each rank's timeline and then "
                 "summed (rows merged by kernel name / pattern); the window is the sum of the per-rank "
                 "windows, not a wall-clock span")
TIMELINE_FIELDS = ("window_ns", "busy_ns", "idle_ns", "multi_stream_ns", "launch_bound_ns")


def by_rank(kernels: list[dict], rank_of: dict[int, int]) -> dict[int | None, list[dict]]:
    """The stage's records per rank, ranks in order; records of files without a rank under None (last)."""
    groups: dict[int | None, list[dict]] = defaultdict(list)
    for k in kernels:
        groups[rank_of.get(k["file_id"])].append(k)
    return {r: groups[r] for r in sorted(groups, key=lambda r: (r is None, r or 0))}


def timeline_scope(ranks: list[int], unranked: bool) -> str:
    """The label of the combined timeline figures: ``summed over N ranks``."""
    return f"summed over {len(ranks)} ranks" + (" and the files without a rank" if unranked else "")


def combine_summaries(parts: list[dict], scope: str) -> dict:
    """`stage_summary` of every rank → one summary whose figures are summed (definitions say so)."""
    out = {key: sum(p[key] for p in parts) for key in ("window_ns", "busy_ns", "idle_ns", "kernel_time_ns",
                                                        "kernel_count")}
    out["scope"] = scope
    out["definitions"] = {
        "window_ns": f"first kernel start to last kernel end on each rank's own clock, {scope}",
        "busy_ns": f"union of kernel intervals on any stream of the rank, {scope}",
        "idle_ns": f"window minus busy, {scope}",
        "kernel_time_ns": f"sum of kernel durations, {scope} (can exceed busy when streams overlap)",
    }
    return out


def _top(weights: dict) -> str | None:
    """The heaviest key; ties to the larger key (as the overlap rows pick family and site)."""
    weights = {k: v for k, v in weights.items() if k is not None}
    return max(weights, key=lambda k: (weights[k], k)) if weights else None


_OVERLAP_SUMS = ("time_ns", "count", "exposed_ns", "hidden_ns", "hidden_same_stream_ns", "hidden_by_compute_ns",
                 "hidden_by_comm_ns", "hidden_by_memory_ns", "launch_gap_ns")


def _overlap_row(rows: list[dict], busy: int, window: int, cfg: dict) -> dict:
    """One kernel name's overlap rows from several ranks → one row: tallies summed, family / site /
    dependency risk by time across the ranks, verdict, gain and priority recomputed from the sums
    against the summed busy and window (the rules of `pipeline.analyze.overlap`)."""

    first = rows[0]
    sums = {k: sum(r[k] for r in rows) for k in _OVERLAP_SUMS}
    hidden_by: Counter = Counter()
    fam: Counter = Counter()
    site: Counter = Counter()
    risk_time = [0, 0, 0]
    for r in rows:
        hidden_by.update(r["hidden_by"])
        fam[r["family"]] += r["time_ns"] + r["count"]  # as overlap.py: duration + 1 per kernel
        site[r["site"]] += r["time_ns"] + r["count"]
        risk_time[("low", "medium", "high").index(r["dep_risk"])] += r["time_ns"]
    family = _top(fam) or "other"
    dep_risk = dep_risk_of(risk_time)
    share = sums["time_ns"] / busy if busy else 0.0
    out = dict(first)  # keeps the key order of the single-rank rows (and any field added there)
    out.update(sums, family=family, site=_top(site), share=share,
               hidden_by={c: hidden_by[c] for c in first["hidden_by"]}, dep_risk=dep_risk,
               **judgement(sums["time_ns"], sums["hidden_ns"], sums["exposed_ns"], sums["launch_gap_ns"], share,
                           window, family, dep_risk, cfg))
    return out


def _notes(notes: dict, scope: str) -> str:
    distinct = list(dict.fromkeys(n for n in notes.values() if n))
    if not distinct:
        detail = ""
    elif len(distinct) == 1 and all(notes.values()):
        detail = f"; every rank: {distinct[0]}"
    else:
        detail = "; " + "; ".join(f"{'rank ' + str(r) if r is not None else 'no rank'}: {n}"
                                  for r, n in notes.items() if n)
    return f"overlap figures and rows {scope}, each rank on its own timeline{detail}"


def combine_overlaps(parts: dict, scope: str, window: int) -> dict:
    """`analyze_overlap` of every rank (rank → result) → the fields the report reads, summed."""

    cfg = load_config()
    busy = sum(p["busy_ns"] for p in parts.values())
    named: dict[str, list[dict]] = defaultdict(list)
    category: Counter = Counter()
    for p in parts.values():
        for row in p.get("rows", []):
            named[row["name"]].append(row)
        category.update(p.get("category_overlap", {}))
    rows = [_overlap_row(rs, busy, window, cfg) for rs in named.values()]
    rows.sort(key=lambda r: (r["priority"], -r["gain_ns"], -r["time_ns"], r["name"]))
    cat_names = category_sets(cfg)[0]
    return {
        "busy_ns": busy,
        "idle_ns": sum(p["idle_ns"] for p in parts.values()),
        "launch_bound_ns": sum(p["launch_bound_ns"] or 0 for p in parts.values()),
        "multi_stream_ns": sum(p["multi_stream_ns"] for p in parts.values()),
        "category_overlap": dict(category),  # category sets in the order the ranks first show them
        "note": _notes({r: p.get("note") for r, p in parts.items()}, scope),
        "rows": rows,
        "families": family_rows(rows, cat_names, busy),
    }


def _ordered_union(lists: list[list[str]], limit: int | None = None) -> list[str]:
    out = list(dict.fromkeys(x for xs in lists for x in xs))
    return out[:limit] if limit else out


def combine_fusions(parts: dict, total_time_ns: int) -> dict:
    """`match_fusions` of every rank (rank → result) → fusions merged by pattern (times and
    occurrence counts summed, status from the summed counts, evidence and sites in the order of
    the ranks' items by time) and near misses of patterns no rank matched (the highest level kept,
    with the ranks that showed it)."""
    by_pattern: dict[str, list[dict]] = defaultdict(list)
    for p in parts.values():
        for f in p["fusions"]:
            by_pattern[f["pattern"]].append(f)
    fusions = []
    for items in by_pattern.values():
        items = sorted(items, key=lambda f: -f["time_ns"])
        out = dict(items[0])
        for key in ("time_ns", "occurrences", "fused_occurrences", "split_occurrences"):
            out[key] = sum(f[key] for f in items)
        fused, split = out["fused_occurrences"], out["split_occurrences"]
        out["status"] = "both" if fused and split else "fused" if fused else "split"
        out["share"] = out["time_ns"] / total_time_ns if total_time_ns else 0.0
        out["evidence"] = _ordered_union([f["evidence"] for f in items])
        out["sites"] = _ordered_union([f["sites"] for f in items], TOP_SITES)
        fusions.append(out)
    fusions.sort(key=lambda f: (-f["time_ns"], f["pattern"]))
    near: dict[str, dict] = {}
    for rank, p in parts.items():
        for m in p["near_misses"]:
            if m["pattern"] in by_pattern:
                continue
            seen = near.get(m["pattern"])
            if seen is None or LEVEL_ORDER[m["level"]] < LEVEL_ORDER[seen["level"]]:
                near[m["pattern"]] = {**m, "ranks": seen["ranks"] if seen else []}
            near[m["pattern"]]["ranks"].append(rank)
    near_misses = sorted(near.values(), key=lambda m: (LEVEL_ORDER[m["level"]], m["pattern"]))
    return {"fusions": fusions, "near_misses": near_misses}


def add_rank_timelines(spread: dict, summaries: dict, overlaps: dict) -> None:
    """Each rank's own window / busy / idle / ≥ 2 streams / launch-bound into ``spread["per_rank"]``
    (0 for a rank without kernels in the stage)."""
    for p in spread["per_rank"]:
        s, o = summaries.get(p["rank"]), overlaps.get(p["rank"])
        p["window_ns"] = s["window_ns"] if s else 0
        p["busy_ns"] = o["busy_ns"] if o else 0
        p["idle_ns"] = o["idle_ns"] if o else 0
        p["multi_stream_ns"] = o["multi_stream_ns"] if o else 0
        p["launch_bound_ns"] = (o["launch_bound_ns"] or 0) if o else 0


def add_wait_straggler(spread: dict, rows: list[dict]) -> None:
    """Add ``straggler.wait`` (the straggler by collective wait, from the stage's collectives rows) and
    ``straggler.basis`` (what the straggler line uses: ``collective wait``, else ``stage time``). The
    stage-time fields of ``straggler`` stay as they are."""
    sg = spread["straggler"]
    per: dict[int, dict] = {}
    for row in rows:
        for p in row["per_rank"]:
            a = per.setdefault(p["rank"], {"rank": p["rank"], "wait_ns": 0, "instances": 0, "late_count": None})
            a["wait_ns"] += p["wait_ns"]
            a["instances"] += row["instances"]
            if p["late_count"] is not None:
                a["late_count"] = (a["late_count"] or 0) + p["late_count"]
    per = {r: a for r, a in per.items() if a["instances"]}
    if not per:
        sg["wait"], sg["basis"] = None, "stage time"
        return
    best = min(per.values(), key=lambda a: (a["wait_ns"] / a["instances"], -(a["late_count"] or 0), a["rank"]))
    sg["wait"] = {
        "rank": best["rank"],
        "wait_ns": best["wait_ns"],
        "median_wait_ns": round(statistics.median(a["wait_ns"] for a in per.values())),
        "late_count": best["late_count"],
        "instances": best["instances"],
        "per_rank": [per[r] for r in sorted(per)],
        "rule": WAIT_RULE,
    }
    sg["basis"] = "collective wait"
