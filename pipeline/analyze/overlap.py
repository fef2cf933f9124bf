"""Overlap-opportunity analysis: exposed vs hidden kernel time in one stage of one device.

One sweep over the sorted interval endpoints (O(n log n), `pipeline.analyze.sweep`) yields the
stage totals (busy, idle, launch-bound idle, multi-stream time, per-category-set time) and, per
kernel, the time while another stream was active (hidden) or not (exposed); Arrow group-bys
fold the per-kernel figures into one row per display name. Rules and thresholds:
`pipeline/catalog/overlap.toml`, explained in `docs/overlap.md`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.analyze.sweep import DepRule, Sweep
from pipeline.analyze.table import columns_of
from pipeline.gc_pause import without_gc
from pipeline.paths import read_catalog

_LEVELS = ("low", "medium", "high")
_PRIORITIES = ("P0", "P1", "P2")


# ---------------------------------------------------------------- configuration


def load_config(override: dict | None = None) -> dict:
    """The catalog `overlap.toml`, with `override` merged in key by key (nested tables too)."""
    return _merge(read_catalog("overlap.toml"), override or {})


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def category_sets(cfg: dict) -> tuple[list[str], dict[str, int], int]:
    """Sorted category names, family -> category index, and the default category index."""
    cats = cfg["categories"]
    names = sorted({cats["default"], *(k for k in cats if k != "default")})
    fam_to_cat = {fam: names.index(cat) for cat, fams in cats.items() if cat != "default" for fam in fams}
    return names, fam_to_cat, names.index(cats["default"])


MEMORY_KINDS = ("memcpy", "memset")


def hta_categories(kinds: Sequence[str], families: Sequence[str], names: Sequence[str], cat_names: list[str],
                   cfg: dict) -> list[int]:
    """Category index per activity by HolisticTraceAnalysis's rule: memcpy/memset activities are
    memory, kernels of the communication families are communication, every other kernel is
    computation — whatever its family (a copy or fill *kernel* is computation)."""
    comm = set(cfg["categories"].get("communication", []))
    compute = cat_names.index(cfg["categories"]["default"])
    memory, communication = (cat_names.index(c) if c in cat_names else compute for c in ("memory", "communication"))
    return [memory if k in MEMORY_KINDS else communication if f in comm else compute
            for k, f in zip(_kinds(kinds, names), families)]


def _kinds(kinds: Sequence[str | None], names: Sequence[str]) -> list[str]:
    """The records' kinds; a record without one is a memcpy/memset when its name says so (Kineto's names)."""
    return [k or ("memcpy" if n.startswith("Memcpy") else "memset" if n.startswith("Memset") else "kernel")
            for k, n in zip(kinds, names)]


# ---------------------------------------------------------------- input columns


@dataclass
class _Cols:
    """Kernel columns, times relative to the first kernel start (`t0`)."""

    name: list[str]
    kind: list[str | None]
    row_key: list[str]
    family: list[str]
    ts: list[int]
    end: list[int]
    stream: list[int]
    site: list[str | None]
    launch: list[int | None]
    t0: int
    bad_durations: int
    devices: int


_INPUT = ("name", "display_name", "family", "ts_ns", "dur_ns", "launch_ts_ns", "device", "stream", "site", "kind")


def _input_lists(kernels: Any) -> list[Sequence]:
    """The `_INPUT` columns as Python sequences, from records or a pyarrow.Table."""
    if isinstance(kernels, pa.Table):
        return [kernels.column(c).to_pylist() if c in kernels.column_names else [None] * kernels.num_rows
                for c in _INPUT]
    return columns_of(kernels, _INPUT)


def _columns(kernels: Any) -> _Cols:
    name, disp, fam, ts, dur, launch, device, stream, site, kind = _input_lists(kernels)
    t0 = min(ts) if ts else 0
    keys = set(zip(device, stream))
    sid = {k: i for i, k in enumerate(sorted(keys, key=lambda k: (str(k[0]), str(k[1]))))}
    bad = sum(1 for d in dur if d is None or d < 0)
    rel = [t - t0 for t in ts]
    return _Cols(
        name=list(name),
        kind=list(kind),
        row_key=[d or n for d, n in zip(disp, name)],
        family=[f or "other" for f in fam],
        ts=rel,
        end=[t + d if d is not None and d > 0 else t for t, d in zip(rel, dur)],
        stream=[sid[k] for k in zip(device, stream)],
        site=list(site),
        launch=[None if x is None else x - t0 for x in launch],
        t0=t0,
        bad_durations=bad,
        devices=len(set(device)),
    )


# ---------------------------------------------------------------- the sweep

def _sweep(c: _Cols, cat: list[int], ncat: int, dep: DepRule, launch_starts: list[int] | None,
           max_launch_gap: int, mask_cat: list[int]) -> Sweep:
    """A `Sweep` over `c` (call ``.run()``)."""
    sfile_of = {s: dep.site_file(s) for s in set(c.site)}
    return Sweep(c.ts, c.end, c.stream, cat, ncat, c.launch, c.family, [sfile_of[s] for s in c.site], dep,
                 launch_starts, max_launch_gap, mask_cat=mask_cat)


# ---------------------------------------------------------------- rows


@dataclass
class _Acc:
    """Per display-name accumulator."""

    name: str
    ncat: int
    time: int = 0
    count: int = 0
    exposed: int = 0
    clipped: int = 0
    launch_gap: int = 0
    fam_time: dict[str, int] = field(default_factory=dict)
    site_time: dict[str, int] = field(default_factory=dict)
    risk_time: list[int] = field(default_factory=lambda: [0, 0, 0])
    hidden_by: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hidden_by = [0] * self.ncat


def _weights(keys: pa.Array, values: pa.Array, weight: pa.Array) -> dict[str, dict[str, int]]:
    """Per key, ``{value: summed weight}`` (the table `_top` picks from)."""
    g = pa.table({"k": keys, "v": values, "w": weight}).group_by(["k", "v"], use_threads=False).aggregate(
        [("w", "sum")])
    out: dict[str, dict[str, int]] = {}
    for k, v, w in zip(g.column("k").to_pylist(), g.column("v").to_pylist(), g.column("w_sum").to_pylist()):
        out.setdefault(k, {})[v] = w
    return out


def _accumulate(c: _Cols, sw: Sweep, ncat: int) -> list[_Acc]:
    """Fold the per-kernel tallies into one accumulator per display name (Arrow group-bys)."""
    n = len(c.ts)
    if not n:
        return []
    d = pc.subtract(pa.array(c.end, pa.int64()), pa.array(c.ts, pa.int64()))
    risk = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(bytes(sw.risk))])
    level = pc.if_else(pc.equal(risk, 3), 2, pc.if_else(pc.equal(risk, 0), 0, 1))
    keys = pa.array(c.row_key, pa.string())
    cols = {"key": keys, "d": d, "exposed": sw.exposed,
            "clipped": pa.array(sw.clipped, pa.int64()), "launch_gap": pa.array(sw.launch_gap, pa.int64()),
            **{f"h{j}": sw.hidden[j] for j in range(ncat)},
            **{f"r{lv}": pc.if_else(pc.equal(level, lv), d, 0) for lv in range(3)}}
    sums = [c for c in cols if c != "key"]
    g = pa.table(cols).group_by("key", use_threads=False).aggregate(
        [("d", "count"), *((c, "sum") for c in sums)])
    weight = pc.add(d, 1)
    fam_time = _weights(keys, pa.array(c.family, pa.string()), weight)
    site = pa.array(c.site, pa.string())
    has_site = pc.and_kleene(pc.is_valid(site), pc.not_equal(site, ""))
    site_time = _weights(keys.filter(has_site), site.filter(has_site), weight.filter(has_site))
    out = []
    for row in g.to_pylist():
        a = _Acc(row["key"], ncat, time=row["d_sum"], count=row["d_count"], exposed=row["exposed_sum"],
                 clipped=row["clipped_sum"], launch_gap=row["launch_gap_sum"],
                 fam_time=fam_time.get(row["key"], {}), site_time=site_time.get(row["key"], {}),
                 risk_time=[row[f"r{lv}_sum"] for lv in range(3)])
        a.hidden_by = [row[f"h{j}_sum"] for j in range(ncat)]
        out.append(a)
    return out


def _top(weights: dict[str, int]) -> str | None:
    return max(weights, key=lambda k: (weights[k], k)) if weights else None


def dep_risk_of(risk_time: list[int]) -> str:
    """The level holding most of the row's time (ties go to the higher risk)."""
    return _LEVELS[max(range(3), key=lambda j: (risk_time[j], j))]


def verdict_of(time: int, hidden: int, launch_gap: int, share: float, window: int, v: dict) -> str:
    if launch_gap > 0 and launch_gap >= v["launch_bound_min_ratio"] * time and (
        launch_gap >= v["launch_bound_min_share"] * window
    ):
        return "launch_bound"
    if time > 0 and hidden >= v["hidden_min_frac"] * time:
        return "already_hidden"
    if time >= v["headroom_min_ns"] and share >= v["headroom_min_share"]:
        return "headroom"
    return "minor"


def priority_of(verdict: str, gain: int, window: int, risk: str, p: dict) -> str:
    if verdict not in ("headroom", "launch_bound", "rank_skew"):
        return "P2"
    share = gain / window if window else 0.0
    level = 0 if share >= p["p0_gain_share"] else 1 if share >= p["p1_gain_share"] else 2
    if verdict == "headroom" and risk == "high" and p["demote_high_risk"]:
        level = min(level + 1, 2)
    return _PRIORITIES[level]


def recommendation_of(verdict: str, family: str, risk: str, rec: dict) -> str:
    key = "headroom_high_risk" if verdict == "headroom" and risk == "high" else verdict
    table = rec.get(key) or rec[verdict]
    return table.get(family, table["default"])


def judgement(time: int, hidden: int, exposed: int, launch_gap: int, share: float, window: int,
              family: str, risk: str, cfg: dict) -> dict:
    """A row's verdict, the time it could gain, its priority and the recommendation."""
    verdict = verdict_of(time, hidden, launch_gap, share, window, cfg["verdict"])
    gain = exposed if verdict == "headroom" else launch_gap if verdict == "launch_bound" else 0
    return {"verdict": verdict, "gain_ns": gain, "priority": priority_of(verdict, gain, window, risk, cfg["priority"]),
            "recommendation": recommendation_of(verdict, family, risk, cfg["recommend"])}


def mark_rank_skew(rows: list[dict], waits: dict[str, dict], window: int, config: dict | None = None) -> list[dict]:
    """Give the verdict ``rank_skew`` to the rows of collectives whose time on the reported rank(s) is
    mostly wait for a late rank (``waits``: display name → ``time_ns, wait_ns, late_rank, late_share,
    before``, from `pipeline.analyze.collectives.wait_by_name`); re-sort the rows. Such a row is never
    ``headroom``: overlapping or fusing the kernel recovers none of the wait."""
    cfg = load_config(config)
    for row in rows:
        w = waits.get(row["name"])
        if not w or not w["time_ns"] or w["wait_ns"] < cfg["verdict"]["rank_skew_min_wait_frac"] * w["time_ns"]:
            continue
        gain = min(w["wait_ns"], row["exposed_ns"])
        key = "rank_skew" if w["late_rank"] is not None else "rank_skew_unknown"
        text = recommendation_of(key, row["family"], row["dep_risk"], cfg["recommend"])
        row.update(verdict="rank_skew", gain_ns=gain, priority=priority_of("rank_skew", gain, window, row["dep_risk"],
                                                                           cfg["priority"]),
                   recommendation=text.format(late=w["late_rank"]),
                   rank_skew={"wait_ns": w["wait_ns"], "time_ns": w["time_ns"],
                              "wait_share": w["wait_ns"] / w["time_ns"], "late_rank": w["late_rank"],
                              "late_share": w["late_share"], "late_rank_before": w["before"]})
    rows.sort(key=lambda r: (r["priority"], -r["gain_ns"], -r["time_ns"], r["name"]))
    return rows


def _hidden_fields(hidden_by: list[int], cat_names: list[str]) -> dict:
    by = dict(zip(cat_names, hidden_by))
    return {
        "hidden_by_compute_ns": by.get("compute", 0),
        "hidden_by_comm_ns": by.get("communication", 0),
        "hidden_by_memory_ns": by.get("memory", 0),
        "hidden_by": by,
    }


def judged(time: int, same_stream: int, exposed: int, launch_gap: int, busy: int, window: int, family: str,
           risk: str, cfg: dict) -> dict:
    """``share``, ``hidden_ns`` and the `judgement` of a row, all on its own time: its records'
    time less the part that lay under an earlier kernel of its stream (PDL), which is neither its
    own work nor hidden by another stream."""
    own = time - same_stream
    share = own / busy if busy else 0.0
    hidden = own - exposed
    return {"share": share, "hidden_ns": hidden,
            **judgement(own, hidden, exposed, launch_gap, share, window, family, risk, cfg)}


def _row(a: _Acc, cat_names: list[str], busy: int, window: int, cfg: dict) -> dict:
    family = _top(a.fam_time) or "other"
    risk = dep_risk_of(a.risk_time)
    j = judged(a.time, a.clipped, a.exposed, a.launch_gap, busy, window, family, risk, cfg)
    return {
        "name": a.name,
        "family": family,
        "site": _top(a.site_time),
        "time_ns": a.time,
        "count": a.count,
        "share": j.pop("share"),
        "exposed_ns": a.exposed,
        "hidden_ns": j.pop("hidden_ns"),
        "same_stream_overlap_ns": a.clipped,
        **_hidden_fields(a.hidden_by, cat_names),
        "launch_gap_ns": a.launch_gap,
        "dep_risk": risk,
        **j,
    }


def family_rows(rows: list[dict], cat_names: list[str], busy: int) -> list[dict]:
    """Per-family sums of the row tallies, largest first (share of busy on the rows' own time)."""
    fams: dict[str, dict] = {}
    keys = ("time_ns", "count", "exposed_ns", "hidden_ns", "same_stream_overlap_ns", "launch_gap_ns")
    for r in rows:
        f = fams.setdefault(r["family"], {"family": r["family"], "names": 0, **{k: 0 for k in keys},
                                          "hidden_by": {c: 0 for c in cat_names}})
        f["names"] += 1
        for k in keys:
            f[k] += r[k]
        for cname, v in r["hidden_by"].items():
            f["hidden_by"][cname] += v
    out = []
    for f in sorted(fams.values(), key=lambda f: -f["time_ns"]):
        by = f.pop("hidden_by")
        own = f["time_ns"] - f["same_stream_overlap_ns"]
        out.append({**f, "share": own / busy if busy else 0.0, **_hidden_fields(list(by.values()), cat_names)})
    return out


# ---------------------------------------------------------------- entry point


def _notes(c: _Cols, streams: int, launch_known: bool) -> str | None:
    notes = []
    if not c.ts:
        notes.append("no kernels in this stage")
    elif streams == 1:
        notes.append("single stream: every kernel is exposed and the multi-stream fields are 0 "
                     "(overlap needs a second stream)")
    if c.devices > 1:
        notes.append(f"kernels from {c.devices} devices: streams keyed by (device, stream); pass one device per call")
    if c.ts and not launch_known:
        notes.append("no launch timestamps: launch_bound_ns is 0 because it cannot be measured")
    return "; ".join(notes) or None


def _category_overlap(by_mask: list[int], cat_names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for mask, ns in enumerate(by_mask):
        if mask and ns:
            out["+".join(n for j, n in enumerate(cat_names) if mask >> j & 1)] = ns
    return out


def same_stream_figures(c: _Cols, clipped: list[int]) -> dict:
    """Stage figures of same-stream overlap: PDL-shaped (the record outlasts what it started under)
    and contained (it does not: an anomaly), from the sweep's clipped time per kernel."""
    pdl = contained = pdl_ns = contained_ns = 0
    for ts, end, cut in zip(c.ts, c.end, clipped):
        if cut <= 0:
            continue
        if cut < end - ts:
            pdl, pdl_ns = pdl + 1, pdl_ns + cut
        else:
            contained, contained_ns = contained + 1, contained_ns + cut
    return {"pdl_overlaps": pdl, "pdl_overlap_ns": pdl_ns,
            "anomalies": {"same_stream_contained": contained, "same_stream_contained_ns": contained_ns,
                          "bad_durations": c.bad_durations}}


def _hta_view(cat_overlap: dict[str, int], busy: int, idle: int, window: int) -> dict:
    """The same numbers under HTA's names (temporal breakdown, comm/comp overlap)."""
    comp = sum(v for k, v in cat_overlap.items() if "compute" in k.split("+"))
    comm = sum(v for k, v in cat_overlap.items() if "communication" in k.split("+"))
    both = sum(v for k, v in cat_overlap.items() if {"compute", "communication"} <= set(k.split("+")))
    return {
        "kernel_time_ns": window,
        "idle_time_ns": idle,
        "compute_time_ns": comp,
        "non_compute_time_ns": busy - comp,
        "comp_comm_overlap_pctg": round(100 * both / comm, 2) if comm else None,
    }


@without_gc
def analyze_overlap(kernels: Any, *, launches: list[dict] | None = None, config: dict | None = None) -> dict:
    """Exposed vs hidden time of one stage of one device's kernels (list of dicts or pyarrow.Table).

    `launches` (CPU launch calls with `ts_ns`) classify idle gaps whose ending kernel has
    no `launch_ts_ns`. Output fields: `docs/overlap.md`.
    """
    cfg = load_config(config)
    cat_names, fam_to_cat, default_cat = category_sets(cfg)
    c = _columns(kernels)
    cat = [fam_to_cat.get(f, default_cat) for f in c.family]
    hta_cat = hta_categories(c.kind, c.family, c.name, cat_names, cfg)
    launch_starts = sorted(l["ts_ns"] - c.t0 for l in launches) if launches else None
    sw = _sweep(c, cat, len(cat_names), DepRule.from_cfg(cfg["dep"]), launch_starts,
                int(cfg["launch"]["max_gap_ns"]), hta_cat).run()
    streams = len(set(c.stream))
    window = max(c.end, default=0)
    idle = window - sw.busy
    rows = [_row(a, cat_names, sw.busy, window, cfg) for a in _accumulate(c, sw, len(cat_names))]
    rows.sort(key=lambda r: (r["priority"], -r["gain_ns"], -r["time_ns"], r["name"]))
    cat_overlap = _category_overlap(sw.mask_by_mask, cat_names)
    launch_known = launch_starts is not None or any(x is not None for x in c.launch)
    return {
        "window_start_ns": c.t0,
        "window_ns": window,
        "busy_ns": sw.busy,
        "idle_ns": idle,
        "launch_bound_ns": sw.launch_bound,
        "long_idle_ns": sw.long_idle,
        "longest_gap_ns": sw.longest_gap,
        "multi_stream_ns": sw.multi,
        "exposed_ns": sw.single,
        "streams": streams,
        "kernels": len(c.ts),
        "category_overlap": cat_overlap,
        "family_category_overlap": _category_overlap(sw.by_mask, cat_names),
        "hta": _hta_view(cat_overlap, sw.busy, idle, window),
        **same_stream_figures(c, sw.clipped),
        "note": _notes(c, streams, launch_known),
        "rows": rows,
        "families": family_rows(rows, cat_names, sw.busy),
    }
