"""The overlap sweep: one pass over every kernel's start and end point, sorted once.

Points are sorted by (time, ends before starts, kernel index): O(n log n). Per stream only
the earliest-started running kernel is *effective*; a later kernel on the same stream (bad
data, or programmatic dependent launch) waits in a FIFO and is clipped to start when the
effective one ends. Running integrals — time with exactly one / at least one / at least two
active streams, time with at least one / two running kernels of category c, time per set of
running categories — are kept as ``accumulated + (now - since)`` and only touched when their
condition flips, so no per-segment loop is needed. A kernel snapshots them when it becomes
effective and differences them when it ends: per-kernel exposure costs O(number of categories).
Rules: `docs/overlap.md`.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class DepRule:
    """Tight-gap and producer/consumer rule for stream neighbours (`[dep]` in the catalog)."""

    gap_min: int
    gap_max: int
    gap_frac: float
    pairs: frozenset[tuple[str, str]]
    ignore: tuple[str, ...]

    @classmethod
    def from_cfg(cls, d: dict) -> "DepRule":
        return cls(int(d["tight_gap_min_ns"]), int(d["tight_gap_max_ns"]), float(d["tight_gap_frac"]),
                   frozenset((a, b) for a, b in d["pairs"]), tuple(d["ignore_site_substrings"]))

    def tight(self, gap: int, dur: int) -> bool:
        return gap < min(self.gap_max, max(self.gap_min, self.gap_frac * dur))

    def site_file(self, site: str | None) -> str | None:
        if not site or any(s in site for s in self.ignore):
            return None
        return site.split(":", 1)[0]


class Sweep:
    """Stage tallies and per-kernel exposure of kernels given as parallel lists (times relative, ns).

    After `run`: ``busy, single, multi, by_mask, launch_bound, long_idle, longest_gap,
    clipped_count`` (stage) and ``exposed, clipped, launch_gap, risk`` (per kernel),
    ``hidden_by[i * ncat + j]`` (per kernel and category).
    """

    def __init__(self, ts: list[int], end: list[int], stream: list[int], cat: list[int], ncat: int,
                 launch: list[int | None], family: list[str], site_file: list[str | None], dep: DepRule,
                 launch_starts: list[int] | None, max_launch_gap: int):
        self.ts, self.end, self.stream, self.cat, self.ncat = ts, end, stream, cat, ncat
        self.launch, self.family, self.site_file, self.dep = launch, family, site_file, dep
        self.launch_starts, self.max_launch_gap = launch_starts, max_launch_gap
        n = len(ts)
        self.busy = self.single = self.multi = self.launch_bound = self.clipped_count = 0
        self.long_idle = self.longest_gap = 0
        self.by_mask = [0] * (1 << ncat)
        self.exposed, self.clipped, self.launch_gap = [0] * n, [0] * n, [0] * n
        self.hidden_by = [0] * (n * ncat)
        self.risk = bytearray(n)

    def _points(self) -> list[int]:
        """Sorted keys ``(2·time + is_start)·n + i`` of every kernel with a positive duration."""
        ts, end, n = self.ts, self.end, len(self.ts)
        live = [i for i in range(n) if end[i] > ts[i]]
        keys = [(ts[i] * 2 + 1) * n + i for i in live]
        keys += [end[i] * 2 * n + i for i in live]
        keys.sort()
        return keys

    def run(self) -> "Sweep":  # noqa: C901 - one loop on purpose: it runs 2n times
        ts, end, stream, cat, ncat = self.ts, self.end, self.stream, self.cat, self.ncat
        family, sfile, pairs = self.family, self.site_file, self.dep.pairs
        gap_min, gap_max, gap_frac = self.dep.gap_min, self.dep.gap_max, self.dep.gap_frac
        launch, launch_gap, launch_starts, max_gap = self.launch, self.launch_gap, self.launch_starts, self.max_launch_gap
        longest_gap = long_idle = launch_bound = 0
        exposed, clipped, hidden_by, risk = self.exposed, self.clipped, self.hidden_by, self.risk
        n, ns = len(ts), max(stream, default=-1) + 1
        cats = range(ncat)
        queue: list[deque[int]] = [deque() for _ in range(ns)]
        eff, last_eff, last_end = [-1] * ns, [-1] * ns, [0] * ns
        ended = bytearray(n)
        cat_cnt = [0] * ncat
        snap_e = [0] * n
        snap_g: list[list[int]] = [[]] * n
        # integrals: value at t = acc + (t - since) while the condition holds
        one_acc = one_since = busy_acc = busy_since = multi_acc = multi_since = 0
        g1_acc, g1_since, g2_acc, g2_since = [0] * ncat, [0] * ncat, [0] * ncat, [0] * ncat
        by_mask, mask, mask_since = self.by_mask, 0, 0
        n_act = clipped_count = 0
        gap: tuple[int, int, list[int]] | None = None
        cur: int | None = None
        for key in self._points():
            i, q = key % n, key // n
            t = q >> 1
            if t != cur:
                if gap is not None:  # `_resolve_gap`, inlined: a gap ends at most once per point in time
                    g0, glen, starters = gap
                    gap = None
                    if glen > longest_gap:
                        longest_gap = glen
                    if glen > max_gap:
                        long_idle += glen
                    else:
                        h = -1
                        for x in starters:  # the latest-launched starter; ties: the first
                            if launch[x] is not None and (h < 0 or launch[x] > launch[h]):
                                h = x
                        if h >= 0:
                            bound = launch[h] > g0
                        elif launch_starts and starters:
                            h = starters[0]
                            j = bisect.bisect_left(launch_starts, g0)
                            bound = j < len(launch_starts) and launch_starts[j] < g0 + glen
                        else:
                            bound = False
                        if bound:
                            launch_bound += glen
                            launch_gap[h] += glen
                if cur is not None and not n_act:
                    gap = (cur, t - cur, [])
                cur = t
            s = stream[i]
            if q & 1:  # start
                queue[s].append(i)
                if eff[s] != -1:
                    clipped_count += 1
                    continue
                if not n_act:
                    busy_since = one_since = t
                elif n_act == 1:
                    one_acc += t - one_since
                    multi_since = t
                n_act += 1
                h = i
            else:  # end
                if eff[s] != i:  # ended while waiting behind a same-stream kernel: fully clipped
                    ended[i] = 1
                    clipped[i] = end[i] - ts[i]
                    continue
                k = cat[i]
                e1 = one_acc + (t - one_since if n_act == 1 else 0)
                exposed[i] = e1 - snap_e[i]
                snap, base = snap_g[i], i * ncat
                for j in cats:
                    if j == k:
                        now = g2_acc[j] + (t - g2_since[j] if cat_cnt[j] > 1 else 0)
                    else:
                        now = g1_acc[j] + (t - g1_since[j] if cat_cnt[j] else 0)
                    hidden_by[base + j] = now - snap[j]
                c = cat_cnt[k]
                if c == 1:
                    g1_acc[k] += t - g1_since[k]
                    if mask:
                        by_mask[mask] += t - mask_since
                    mask &= ~(1 << k)
                    mask_since = t
                elif c == 2:
                    g2_acc[k] += t - g2_since[k]
                cat_cnt[k] = c - 1
                last_end[s] = t
                qs = queue[s]
                qs.popleft()
                while qs and ended[qs[0]]:
                    qs.popleft()
                if not qs:
                    eff[s] = -1
                    if n_act == 1:
                        one_acc += t - one_since
                        busy_acc += t - busy_since
                    elif n_act == 2:
                        multi_acc += t - multi_since
                        one_since = t
                    n_act -= 1
                    continue
                h = qs[0]
            # h becomes the effective kernel of stream s at t
            k = cat[h]
            eff[s] = h
            clipped[h] = t - ts[h]
            c = cat_cnt[k]
            if not c:
                g1_since[k] = t
                if mask:
                    by_mask[mask] += t - mask_since
                mask |= 1 << k
                mask_since = t
            elif c == 1:
                g2_since[k] = t
            cat_cnt[k] = c + 1
            snap_e[h] = one_acc + (t - one_since if n_act == 1 else 0)
            snap_g[h] = [g2_acc[j] + (t - g2_since[j] if cat_cnt[j] > 1 else 0) if j == k
                         else g1_acc[j] + (t - g1_since[j] if cat_cnt[j] else 0) for j in cats]
            p = last_eff[s]
            if p >= 0 and ((sfile[p] is not None and sfile[p] == sfile[h]) or (family[p], family[h]) in pairs):
                gap_ns = t - last_end[s]  # DepRule.tight, inlined
                if gap_ns < min(gap_max, max(gap_min, gap_frac * (end[h] - ts[h]))):
                    risk[h] |= 1
                if gap_ns < min(gap_max, max(gap_min, gap_frac * (end[p] - ts[p]))):
                    risk[p] |= 2
            last_eff[s] = h
            if gap is not None:
                gap[2].append(h)
        self.busy, self.single, self.multi, self.clipped_count = busy_acc, one_acc, multi_acc, clipped_count
        self.longest_gap, self.long_idle, self.launch_bound = longest_gap, long_idle, launch_bound
        if gap is not None:
            self._resolve_gap(gap)
        return self

    def _resolve_gap(self, gap: tuple[int, int, list[int]]) -> None:
        """Launch-bound when the kernel that ends the gap was launched after the gap began."""
        g0, glen, starters = gap
        self.longest_gap = max(self.longest_gap, glen)
        if glen > self.max_launch_gap:  # between-step / host stall, not launch overhead
            self.long_idle += glen
            return
        launch = self.launch
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
