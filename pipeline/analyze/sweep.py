"""The overlap sweep: one pass over every kernel's start and end point, sorted once.

Points are sorted by (time, ends before starts, kernel index): O(n log n). Per stream only
the earliest-started running kernel is *effective*; a later kernel on the same stream (bad
data, or programmatic dependent launch) waits in a FIFO and is clipped to start when the
effective one ends. The Python loop keeps only that queue, the idle gaps and the neighbour
(dependency) rule, and records when each kernel became effective.

Everything that integrates over time — busy, single- and multi-stream time, time per set of
running categories, and per kernel the time while it ran alone (exposed) or beside a kernel of
category c (hidden) — is computed afterwards from the effective intervals with Arrow: sort the
interval ends once, prefix-sum the counts of running streams / kernels per category, prefix-sum
each condition's segment lengths, and difference those sums at each kernel's own two points.
Rules: `docs/overlap.md`.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.gc_pause import without_gc


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

    After `run`: ``busy, single, multi, by_mask, mask_by_mask, launch_bound, long_idle, longest_gap,
    clipped_count`` (stage); ``clipped, launch_gap, risk`` (per kernel, Python sequences);
    ``exposed`` and ``hidden[j]`` per category j (per kernel, Arrow int64 arrays). ``by_mask`` is
    the time per set of running categories by `cat`; ``mask_by_mask`` the same by `mask_cat`
    (another assignment of the same categories; `cat` when not given).
    """

    def __init__(self, ts: list[int], end: list[int], stream: list[int], cat: list[int], ncat: int,
                 launch: list[int | None], family: list[str], site_file: list[str | None], dep: DepRule,
                 launch_starts: list[int] | None, max_launch_gap: int, mask_cat: list[int] | None = None):
        self.ts, self.end, self.stream, self.cat, self.ncat = ts, end, stream, cat, ncat
        self.mask_cat = mask_cat
        self.launch, self.family, self.site_file, self.dep = launch, family, site_file, dep
        self.launch_starts, self.max_launch_gap = launch_starts, max_launch_gap
        n = len(ts)
        self.busy = self.single = self.multi = self.launch_bound = self.clipped_count = 0
        self.long_idle = self.longest_gap = 0
        self.by_mask = [0] * (1 << ncat)
        self.mask_by_mask = self.by_mask
        self.clipped, self.launch_gap = [0] * n, [0] * n
        self.risk = bytearray(n)
        self.exposed = pa.array([0] * n, pa.int64())
        self.hidden = [self.exposed] * ncat
        # the effective intervals' ends as the loop meets them (time order): kernel h becoming
        # effective is recorded as h, kernel i finishing as ~i; where each kernel's two ends are
        self.points = array("q")
        self.point_at = array("q")
        self.opened = array("q", [-1]) * n  # -1: never effective
        self.closed = array("q", [-1]) * n

    def _points(self) -> list[int]:
        """Sorted keys ``(2·time + is_start)·n + i`` of every kernel with a positive duration."""
        ts, end, n = self.ts, self.end, len(self.ts)
        if n and max(end) < (2**62 - 2 * n) // (2 * n) and min(ts) >= 0:  # fits in int64: sort in Arrow
            start, stop = pa.array(ts, pa.int64()), pa.array(end, pa.int64())
            row = pa.array(range(n), pa.int64())
            live = pc.greater(stop, start)
            keys = pa.concat_arrays([
                pc.add(pc.multiply(pc.add(pc.multiply(start, 2), 1), n), row).filter(live),
                pc.add(pc.multiply(stop, 2 * n), row).filter(live),
            ])
            return keys.take(pc.array_sort_indices(keys)).to_pylist()
        live = [i for i in range(n) if end[i] > ts[i]]
        keys = [(ts[i] * 2 + 1) * n + i for i in live]
        keys += [end[i] * 2 * n + i for i in live]
        keys.sort()
        return keys

    @without_gc
    def run(self) -> "Sweep":
        self._walk()
        self._integrate()
        return self

    def _walk(self) -> None:  # noqa: C901 - one loop on purpose: it runs 2n times
        """The event loop: per-stream FIFO, clipping, idle gaps, neighbour risk, activation times."""
        ts, end, stream = self.ts, self.end, self.stream
        family, sfile, pairs = self.family, self.site_file, self.dep.pairs
        gap_min, gap_max, gap_frac = self.dep.gap_min, self.dep.gap_max, self.dep.gap_frac
        launch, launch_gap, launch_starts, max_gap = self.launch, self.launch_gap, self.launch_starts, self.max_launch_gap
        clipped, risk, points, point_at, opened, closed = (
            self.clipped, self.risk, self.points, self.point_at, self.opened, self.closed)
        n, ns = len(ts), max(stream, default=-1) + 1
        queue: list[deque[int]] = [deque() for _ in range(ns)]
        eff, last_eff, last_end = [-1] * ns, [-1] * ns, [0] * ns
        ended = bytearray(n)
        n_act = clipped_count = longest_gap = long_idle = launch_bound = 0
        gap: tuple[int, int, list[int]] | None = None
        cur: int | None = None
        for key in self._points():
            i, q = key % n, key // n
            t = q >> 1
            if t != cur:
                if gap is not None:  # a gap is resolved once, at the next point in time after it ended
                    g0, glen, starters = gap
                    gap = None
                    if glen > longest_gap:
                        longest_gap = glen
                    if glen > max_gap:  # between-step / host stall, not launch overhead
                        long_idle += glen
                    else:  # launch-bound when the kernel that ends the gap was launched after it began
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
                n_act += 1
                h = i
            else:  # end
                if eff[s] != i:  # ended while waiting behind a same-stream kernel: fully clipped
                    ended[i] = 1
                    clipped[i] = end[i] - ts[i]
                    continue
                last_end[s] = t
                closed[i] = len(points)
                points.append(~i)
                point_at.append(t)
                qs = queue[s]
                qs.popleft()
                while qs and ended[qs[0]]:
                    qs.popleft()
                if not qs:
                    eff[s] = -1
                    n_act -= 1
                    continue
                h = qs[0]
            # h becomes the effective kernel of stream s at t
            eff[s] = h
            clipped[h] = t - ts[h]
            opened[h] = len(points)
            points.append(h)
            point_at.append(t)
            p = last_eff[s]
            if p >= 0 and ((sfile[p] is not None and sfile[p] == sfile[h]) or (family[p], family[h]) in pairs):
                gap_ns = t - last_end[s]  # DepRule.tight inlined: gap < min(max, max(min, frac × dur))
                if gap_ns < gap_max:
                    if gap_ns < gap_min or gap_ns < gap_frac * (end[h] - ts[h]):
                        risk[h] |= 1
                    if gap_ns < gap_min or gap_ns < gap_frac * (end[p] - ts[p]):
                        risk[p] |= 2
            last_eff[s] = h
            if gap is not None:
                gap[2].append(h)
        self.clipped_count, self.longest_gap = clipped_count, longest_gap
        self.long_idle, self.launch_bound = long_idle, launch_bound
        if gap is not None:
            self._resolve_gap(gap)

    def _resolve_gap(self, gap: tuple[int, int, list[int]]) -> None:
        """A gap left open when the points ran out (same rule as in `_walk`)."""
        g0, glen, starters = gap
        self.longest_gap = max(self.longest_gap, glen)
        if glen > self.max_launch_gap:
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

    def _integrate(self) -> None:
        """Time integrals over the effective intervals, from their ends in the order `_walk` met them."""
        if not self.points:
            return
        points, at = _int64(self.points), _int64(self.point_at)  # `at` is ascending
        seg = pc.subtract(pa.concat_arrays([at.slice(1), at.slice(len(at) - 1)]), at)  # to the next point
        opens = pc.greater_equal(points, 0)
        step = pc.if_else(opens, 1, -1).cast(pa.int64())
        running = pc.cumulative_sum(step)  # streams with an effective kernel, after each point
        kernel = pc.if_else(opens, points, pc.bit_wise_not(points))
        nowhere = len(self.points)  # index of an extra 0 after the sums: never-effective kernels get 0 - 0
        opened, closed = (pc.if_else(pc.less(_int64(x), 0), nowhere, _int64(x)) for x in (self.opened, self.closed))

        def over_kernels(cond: pa.Array) -> pa.Array:
            """Per kernel: summed length of the segments within its effective interval where `cond` held."""
            held = pc.if_else(cond, seg, 0)
            before = pc.subtract(pc.cumulative_sum(held), held)  # up to each point
            before = pa.concat_arrays([before, pa.array([0], pa.int64())])
            return pc.subtract(before.take(closed), before.take(opened))

        alone = pc.equal(running, 1)
        self.busy = pc.sum(pc.if_else(pc.greater(running, 0), seg, 0)).as_py()
        self.single = pc.sum(pc.if_else(alone, seg, 0)).as_py()
        self.multi = pc.sum(pc.if_else(pc.greater(running, 1), seg, 0)).as_py()
        self.exposed = over_kernels(alone)
        cats = pa.array(self.cat, pa.int64())
        kind = cats.take(kernel)
        hidden = []
        for j in range(self.ncat):
            count = pc.cumulative_sum(pc.if_else(pc.equal(kind, j), step, 0))  # running kernels of category j
            beside = over_kernels(pc.greater(count, 0))  # a kernel of category j ran beside
            beside_own = over_kernels(pc.greater(count, 1))  # ... for a kernel of category j itself
            hidden.append(pc.if_else(pc.equal(cats, j), beside_own, beside))
        self.hidden = hidden
        self.by_mask = self._by_mask(kind, step, seg)
        self.mask_by_mask = self.by_mask if self.mask_cat is None else self._by_mask(
            pa.array(self.mask_cat, pa.int64()).take(kernel), step, seg)

    def _by_mask(self, kind: pa.Array, step: pa.Array, seg: pa.Array) -> list[int]:
        """Time per set of running categories (bit j: a kernel of category j runs), from each
        point's category (`kind`), its +1/−1 `step` and the segment after it."""
        mask = pc.multiply(step, 0)
        for j in range(self.ncat):
            count = pc.cumulative_sum(pc.if_else(pc.equal(kind, j), step, 0))  # running kernels of category j
            mask = pc.add(mask, pc.if_else(pc.greater(count, 0), 1 << j, 0))
        out = [0] * (1 << self.ncat)
        by_mask = pa.table({"mask": mask, "seg": seg}).group_by("mask").aggregate([("seg", "sum")])
        for value, total in zip(by_mask.column("mask").to_pylist(), by_mask.column("seg_sum").to_pylist()):
            if value:
                out[value] = total
        return out


def _int64(values: array) -> pa.Array:
    """An ``array('q')`` as an Arrow int64 array, without copying."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
