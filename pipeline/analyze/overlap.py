"""Overlap-opportunity analysis: exposed vs hidden kernel time in one stage of one device.

One sweep over the sorted interval endpoints (O(n log n)) yields the stage totals (busy,
idle, launch-bound idle, multi-stream time, per-category-set time) and, per kernel, the
time while another stream was active (hidden) or not (exposed). Rules and thresholds:
`pipeline/catalog/overlap.toml`, explained in `docs/overlap.md`.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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


def _category_of(cfg: dict) -> tuple[list[str], dict[str, int], int]:
    """Sorted category names, family -> category index, and the default category index."""
    cats = cfg["categories"]
    names = sorted({cats["default"], *(k for k in cats if k != "default")})
    fam_to_cat = {fam: names.index(cat) for cat, fams in cats.items() if cat != "default" for fam in fams}
    return names, fam_to_cat, names.index(cats["default"])


# ---------------------------------------------------------------- input columns


@dataclass
class _Cols:
    """Kernel columns, times relative to the first kernel start (`t0`)."""

    name: list[str]
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


def _columns(kernels: Any) -> _Cols:
    if hasattr(kernels, "column_names"):  # pyarrow.Table

        def col(c: str) -> list:
            return kernels.column(c).to_pylist() if c in kernels.column_names else [None] * kernels.num_rows

    else:

        def col(c: str) -> list:
            return [k.get(c) for k in kernels]

    name, disp, fam = col("name"), col("display_name"), col("family")
    ts, dur, launch = col("ts_ns"), col("dur_ns"), col("launch_ts_ns")
    device, stream = col("device"), col("stream")
    t0 = min(ts) if ts else 0
    keys = {(d, s) for d, s in zip(device, stream)}
    sid = {k: i for i, k in enumerate(sorted(keys, key=lambda k: (str(k[0]), str(k[1]))))}
    bad = sum(1 for d in dur if d is None or d < 0)
    return _Cols(
        name=name,
        row_key=[d or n for d, n in zip(disp, name)],
        family=[f or "other" for f in fam],
        ts=[t - t0 for t in ts],
        end=[t - t0 + max(d or 0, 0) for t, d in zip(ts, dur)],
        stream=[sid[k] for k in zip(device, stream)],
        site=col("site"),
        launch=[None if x is None else x - t0 for x in launch],
        t0=t0,
        bad_durations=bad,
        devices=len({d for d in device}),
    )


# ---------------------------------------------------------------- dependency rule


@dataclass
class _Dep:
    """Tight-gap and producer/consumer rule for stream neighbours (`[dep]` in the catalog)."""

    gap_min: int
    gap_max: int
    gap_frac: float
    pairs: set[tuple[str, str]]
    ignore: tuple[str, ...]

    @classmethod
    def from_cfg(cls, d: dict) -> "_Dep":
        return cls(
            int(d["tight_gap_min_ns"]),
            int(d["tight_gap_max_ns"]),
            float(d["tight_gap_frac"]),
            {(a, b) for a, b in d["pairs"]},
            tuple(d["ignore_site_substrings"]),
        )

    def tight(self, gap: int, dur: int) -> bool:
        return gap < min(self.gap_max, max(self.gap_min, self.gap_frac * dur))

    def site_file(self, site: str | None) -> str | None:
        if not site or any(s in site for s in self.ignore):
            return None
        return site.split(":", 1)[0]


# ---------------------------------------------------------------- the sweep


class _Sweep:
    """One pass over all interval endpoints, sorted once (time; ends before starts).

    Per stream only the earliest-started running kernel is *effective*; a later kernel on
    the same stream (bad data, or programmatic dependent launch) is clipped to start when
    the effective one ends. Running integrals (time with exactly one active stream, time
    with >= 1 / >= 2 streams running category c) are snapshotted when a kernel becomes
    effective and differenced when it ends, so per-kernel exposure costs O(1).
    """

    def __init__(self, c: _Cols, cat: list[int], ncat: int, dep: _Dep, launch_starts: list[int] | None,
                 max_launch_gap: int):
        n, ns = len(c.ts), max(c.stream, default=-1) + 1
        self.c, self.cat, self.ncat, self.dep, self.launch_starts = c, cat, ncat, dep, launch_starts
        self.max_launch_gap = max_launch_gap
        self.sfile = [dep.site_file(s) for s in c.site]
        self.queue: list[deque[int]] = [deque() for _ in range(ns)]
        self.eff, self.last_eff, self.last_end = [-1] * ns, [-1] * ns, [0] * ns
        self.ended = bytearray(n)
        self.cat_cnt, self.g1, self.g2 = [0] * ncat, [0] * ncat, [0] * ncat
        self.n_act = self.mask = self.single = 0
        self.snap_e, self.snap_g = [0] * n, [0] * (n * ncat)
        self.gap: tuple[int, int, list[int]] | None = None
        # results
        self.busy = self.multi = self.launch_bound = self.clipped_count = 0
        self.long_idle = self.longest_gap = 0
        self.by_mask = [0] * (1 << ncat)
        self.exposed, self.clipped, self.launch_gap = [0] * n, [0] * n, [0] * n
        self.hidden_by = [0] * (n * ncat)
        self.risk = bytearray(n)

    def run(self) -> "_Sweep":
        c, n = self.c, len(self.c.ts)
        live = [i for i in range(n) if c.end[i] > c.ts[i]]
        keys = [(c.ts[i] * 2 + 1) * n + i for i in live] + [c.end[i] * 2 * n + i for i in live]
        keys.sort()
        cur = None
        for key in keys:
            i, q = key % n, key // n
            t = q >> 1
            if t != cur:
                if self.gap:
                    self._resolve_gap()
                if cur is not None:
                    self._account(cur, t)
                cur = t
            if q & 1:
                self._start(i, t)
            else:
                self._end(i, t)
        if self.gap:
            self._resolve_gap()
        return self

    def _account(self, t0: int, t1: int) -> None:
        """Credit the elementary segment [t0, t1) to the stage tallies."""
        seg, na = t1 - t0, self.n_act
        if not na:
            self.gap = (t0, seg, [])
            return
        self.busy += seg
        self.by_mask[self.mask] += seg
        if na == 1:
            self.single += seg
        else:
            self.multi += seg
        cc, g1, g2 = self.cat_cnt, self.g1, self.g2
        for j in range(self.ncat):
            if cc[j]:
                g1[j] += seg
                if cc[j] > 1:
                    g2[j] += seg

    def _start(self, i: int, t: int) -> None:
        s = self.c.stream[i]
        self.queue[s].append(i)
        if self.eff[s] == -1:
            self.n_act += 1
            self._activate(i, t, s)
        else:
            self.clipped_count += 1

    def _end(self, i: int, t: int) -> None:
        s = self.c.stream[i]
        if self.eff[s] != i:  # ended while waiting behind a same-stream kernel: fully clipped
            self.ended[i] = 1
            self.clipped[i] = self.c.end[i] - self.c.ts[i]
            return
        self._finish(i, t, s)
        q = self.queue[s]
        q.popleft()
        while q and self.ended[q[0]]:
            q.popleft()
        if q:
            self._activate(q[0], t, s)
        else:
            self.eff[s] = -1
            self.n_act -= 1

    def _activate(self, h: int, t: int, s: int) -> None:
        k, ncat = self.cat[h], self.ncat
        self.eff[s] = h
        self.clipped[h] = t - self.c.ts[h]
        self.cat_cnt[k] += 1
        self.mask |= 1 << k
        self.snap_e[h] = self.single
        base = h * ncat
        for j in range(ncat):
            self.snap_g[base + j] = self.g2[j] if j == k else self.g1[j]
        p = self.last_eff[s]
        if p >= 0:
            self._mark_risk(p, h, t - self.last_end[s])
        self.last_eff[s] = h
        if self.gap:
            self.gap[2].append(h)

    def _finish(self, i: int, t: int, s: int) -> None:
        k, ncat = self.cat[i], self.ncat
        self.exposed[i] = self.single - self.snap_e[i]
        base = i * ncat
        for j in range(ncat):
            self.hidden_by[base + j] = (self.g2[j] if j == k else self.g1[j]) - self.snap_g[base + j]
        self.cat_cnt[k] -= 1
        if not self.cat_cnt[k]:
            self.mask &= ~(1 << k)
        self.last_end[s] = t

    def _mark_risk(self, p: int, h: int, gap: int) -> None:
        """Set `p`'s next-side bit (2) and `h`'s prev-side bit (1) when they are tightly chained."""
        c, dep, sf = self.c, self.dep, self.sfile
        if not ((sf[p] is not None and sf[p] == sf[h]) or (c.family[p], c.family[h]) in dep.pairs):
            return
        if dep.tight(gap, c.end[h] - c.ts[h]):
            self.risk[h] |= 1
        if dep.tight(gap, c.end[p] - c.ts[p]):
            self.risk[p] |= 2

    def _resolve_gap(self) -> None:
        """Launch-bound when the kernel that ends the gap was launched after the gap began."""
        (g0, glen, starters), self.gap = self.gap, None
        self.longest_gap = max(self.longest_gap, glen)
        if glen > self.max_launch_gap:  # between-step / host stall, not launch overhead
            self.long_idle += glen
            return
        launch = self.c.launch
        known = [h for h in starters if launch[h] is not None]
        if known:
            h = max(known, key=lambda x: launch[x])
            bound = launch[h] > g0
        elif self.launch_starts and starters:
            h = starters[0]
            j = bisect.bisect_left(self.launch_starts, g0)
            bound = j < len(self.launch_starts) and self.launch_starts[j] < g0 + glen
        else:
            return
        if bound:
            self.launch_bound += glen
            self.launch_gap[h] += glen


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


def _accumulate(c: _Cols, sw: _Sweep, ncat: int) -> list[_Acc]:
    """Fold the per-kernel tallies into one accumulator per display name (O(n))."""
    idx: dict[str, _Acc] = {}
    for i, key in enumerate(c.row_key):
        a = idx.get(key)
        if a is None:
            a = idx[key] = _Acc(key, ncat)
        d = c.end[i] - c.ts[i]
        a.time += d
        a.count += 1
        a.exposed += sw.exposed[i]
        a.clipped += sw.clipped[i]
        a.launch_gap += sw.launch_gap[i]
        a.fam_time[c.family[i]] = a.fam_time.get(c.family[i], 0) + d + 1
        if c.site[i]:
            a.site_time[c.site[i]] = a.site_time.get(c.site[i], 0) + d + 1
        bits = sw.risk[i]
        a.risk_time[2 if bits == 3 else 1 if bits else 0] += d
        for j in range(ncat):
            a.hidden_by[j] += sw.hidden_by[i * ncat + j]
    return list(idx.values())


def _top(weights: dict[str, int]) -> str | None:
    return max(weights, key=lambda k: (weights[k], k)) if weights else None


def _dep_risk(risk_time: list[int]) -> str:
    """The level holding most of the row's time (ties go to the higher risk)."""
    return _LEVELS[max(range(3), key=lambda j: (risk_time[j], j))]


def _verdict(time: int, hidden: int, launch_gap: int, share: float, window: int, v: dict) -> str:
    if launch_gap > 0 and launch_gap >= v["launch_bound_min_ratio"] * time and (
        launch_gap >= v["launch_bound_min_share"] * window
    ):
        return "launch_bound"
    if time > 0 and hidden >= v["hidden_min_frac"] * time:
        return "already_hidden"
    if time >= v["headroom_min_ns"] and share >= v["headroom_min_share"]:
        return "headroom"
    return "minor"


def _priority(verdict: str, gain: int, window: int, risk: str, p: dict) -> str:
    if verdict not in ("headroom", "launch_bound"):
        return "P2"
    share = gain / window if window else 0.0
    level = 0 if share >= p["p0_gain_share"] else 1 if share >= p["p1_gain_share"] else 2
    if verdict == "headroom" and risk == "high" and p["demote_high_risk"]:
        level = min(level + 1, 2)
    return _PRIORITIES[level]


def _recommend(verdict: str, family: str, risk: str, rec: dict) -> str:
    key = "headroom_high_risk" if verdict == "headroom" and risk == "high" else verdict
    table = rec.get(key) or rec[verdict]
    return table.get(family, table["default"])


def _hidden_fields(hidden_by: list[int], cat_names: list[str]) -> dict:
    by = dict(zip(cat_names, hidden_by))
    return {
        "hidden_by_compute_ns": by.get("compute", 0),
        "hidden_by_comm_ns": by.get("communication", 0),
        "hidden_by_memory_ns": by.get("memory", 0),
        "hidden_by": by,
    }


def _row(a: _Acc, cat_names: list[str], busy: int, window: int, cfg: dict) -> dict:
    family = _top(a.fam_time) or "other"
    hidden = a.time - a.exposed
    share = a.time / busy if busy else 0.0
    risk = _dep_risk(a.risk_time)
    verdict = _verdict(a.time, hidden, a.launch_gap, share, window, cfg["verdict"])
    gain = a.exposed if verdict == "headroom" else a.launch_gap if verdict == "launch_bound" else 0
    return {
        "name": a.name,
        "family": family,
        "site": _top(a.site_time),
        "time_ns": a.time,
        "count": a.count,
        "share": share,
        "exposed_ns": a.exposed,
        "hidden_ns": hidden,
        "hidden_same_stream_ns": a.clipped,
        **_hidden_fields(a.hidden_by, cat_names),
        "launch_gap_ns": a.launch_gap,
        "dep_risk": risk,
        "verdict": verdict,
        "gain_ns": gain,
        "priority": _priority(verdict, gain, window, risk, cfg["priority"]),
        "recommendation": _recommend(verdict, family, risk, cfg["recommend"]),
    }


def _families(rows: list[dict], cat_names: list[str], busy: int) -> list[dict]:
    """Per-family sums of the row tallies, largest first."""
    fams: dict[str, dict] = {}
    keys = ("time_ns", "count", "exposed_ns", "hidden_ns", "hidden_same_stream_ns", "launch_gap_ns")
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
        out.append({**f, "share": f["time_ns"] / busy if busy else 0.0, **_hidden_fields(list(by.values()), cat_names)})
    return out


# ---------------------------------------------------------------- entry point


def _notes(c: _Cols, streams: int, launch_known: bool) -> str | None:
    notes = []
    if not c.ts:
        notes.append("no kernels in this stage")
    elif streams == 1:
        notes.append("single stream: every kernel is exposed and the multi-stream fields are 0 "
                     "(overlap needs a second stream; same-stream overlap is under anomalies)")
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


def analyze_overlap(kernels: Any, *, launches: list[dict] | None = None, config: dict | None = None) -> dict:
    """Exposed vs hidden time of one stage of one device's kernels (list of dicts or pyarrow.Table).

    `launches` (CPU launch calls with `ts_ns`) classify idle gaps whose ending kernel has
    no `launch_ts_ns`. Output fields: `docs/overlap.md`.
    """
    cfg = load_config(config)
    cat_names, fam_to_cat, default_cat = _category_of(cfg)
    c = _columns(kernels)
    cat = [fam_to_cat.get(f, default_cat) for f in c.family]
    launch_starts = sorted(l["ts_ns"] - c.t0 for l in launches) if launches else None
    sw = _Sweep(c, cat, len(cat_names), _Dep.from_cfg(cfg["dep"]), launch_starts,
                int(cfg["launch"]["max_gap_ns"])).run()
    streams = len(set(c.stream))
    window = max(c.end, default=0)
    idle = window - sw.busy
    rows = [_row(a, cat_names, sw.busy, window, cfg) for a in _accumulate(c, sw, len(cat_names))]
    rows.sort(key=lambda r: (r["priority"], -r["gain_ns"], -r["time_ns"], r["name"]))
    cat_overlap = _category_overlap(sw.by_mask, cat_names)
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
        "hta": _hta_view(cat_overlap, sw.busy, idle, window),
        "anomalies": {
            "same_stream_overlaps": sw.clipped_count,
            "same_stream_overlap_ns": sum(sw.clipped),
            "bad_durations": c.bad_durations,
        },
        "note": _notes(c, streams, launch_known),
        "rows": rows,
        "families": _families(rows, cat_names, sw.busy),
    }
