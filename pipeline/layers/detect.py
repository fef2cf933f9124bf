"""Forward passes and decoder layers in one step's kernels: module evidence first, periodicity second.

* ``module``: eager kernels whose Python stack holds ``nn.Module: <Class>_<n>`` frames. The layer
  class is the outermost module class with two or more instances at its depth (``Qwen3DecoderLayer``,
  ``TransformerBlock``); a kernel's layer is its instance, numbered in order of first appearance
  within the pass; a pass ends when an instance already seen comes back after a later one. Used
  when such kernels are at least half of the step (not for piecewise graphs, whose eager attention
  alone carries module frames).
* ``periodicity`` (``stack`` when the keys carry the kernel's Python site): the keys that occur
  exactly L times, in the same order, once per layer, are the *layer keys*; the i-th occurrence of
  each belongs to layer i, which fixes each layer's *core*. Kernels between two cores are split
  once per gap at the same *start key*: the one for which the kernels before the first core end
  with a layer's head and the kernels after the last core start with a layer's tail (ties: the
  earliest start, so a layer begins with its input norm). A much longer gap ends a pass. Layers
  that hold less than half of the step's kernels are no layer stack (a ResNet block, a training
  step's repeats).

Everything is linear in the number of kernels (a few passes over the keys; the start-key search
only touches the gaps, which are short).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from math import ceil
from typing import Callable, Hashable, Iterable

MODULE_FRAME = re.compile(r"^nn\.Module: (?P<cls>.+)_(?P<idx>\d+)$")
MAX_CANDIDATE_COUNTS = 4
MAX_START_KEYS = 64
MIN_MODULE_SHARE = 0.5  # module frames must cover this share of a step's kernels (else periodicity decides)
MINOR_STREAM_SHARE = 0.05
MIN_INSIDE_SHARE = 0.5  # periodic layers must hold at least this share of a step's kernels  # streams holding fewer kernels than this share of a step stay out of layers


@dataclass
class Pass:
    """One forward pass: its layers (kernel lists in program order) and how they were found."""

    layers: list[list[dict]]
    source: str  # module | stack | periodicity
    file_id: int | None = None
    step: int | None = None
    kernels: list[dict] = field(default_factory=list)  # every kernel of the pass's step, program order


def program_order(records: Iterable[dict]) -> list[dict]:
    """CPU issue order (launch time), then GPU start: the order the model code ran in."""
    def key(r: dict) -> tuple:
        t = r.get("launch_ts_ns")
        return (r["ts_ns"] if t is None else t, r["ts_ns"], r.get("stream") or 0, r.get("ev") or 0)
    return sorted(records, key=key)


def step_groups(records: Iterable[dict]) -> list[list[dict]]:
    """Records grouped by (file, step) in program order; records outside steps form one group per file."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r.get("file_id"), -1 if r.get("step") is None else r["step"])].append(r)
    return [program_order(groups[k]) for k in sorted(groups, key=lambda g: (g[0] or 0, g[1]))]


# ---------------------------------------------------------------------------------------------
# module evidence
# ---------------------------------------------------------------------------------------------

def _parse_modules(stack: list[str] | tuple | None) -> list[tuple[str, int]]:
    out = []
    for frame in stack or ():
        if frame.startswith("nn.Module: "):
            m = MODULE_FRAME.match(frame)
            if m:
                out.append((m["cls"], int(m["idx"])))
    return out


class _Modules:
    """``nn.Module`` frames per record, parsed once per distinct stack object (records share them)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[object, list[tuple[str, int]]]] = {}

    def __call__(self, r: dict) -> list[tuple[str, int]]:
        stack = r.get("stack")
        hit = self._by_id.get(id(stack))
        if hit is None or hit[0] is not stack:
            hit = self._by_id[id(stack)] = (stack, _parse_modules(stack))
        return hit[1]


def layer_classes(group: list[dict], modules: _Modules | None = None) -> set[str]:
    """Module classes of the decoder layers: the shallowest depth where a class has ≥ 2 instances."""
    modules = modules or _Modules()
    at_depth: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for r in group:
        for depth, (cls, idx) in enumerate(modules(r)):
            at_depth[depth][cls].add(idx)
    for depth in sorted(at_depth):
        classes = {c for c, ids in at_depth[depth].items() if len(ids) >= 2}
        if classes:
            return classes
    return set()


def module_passes(group: list[dict]) -> list[Pass]:
    """Passes from ``nn.Module`` layer frames (empty when the step has none)."""
    modules = _Modules()
    classes = layer_classes(group, modules)
    if not classes:
        return []
    passes: list[Pass] = []
    order: dict[tuple[str, int], int] = {}
    layers: list[list[dict]] = []
    last = -1
    for r in group:
        inst = next((m for m in modules(r) if m[0] in classes), None)
        if inst is None:
            continue
        idx = order.get(inst)
        if idx is not None and idx < last:  # an earlier layer again: the next forward pass
            passes.append(Pass(layers, "module"))
            order, layers, idx = {}, [], None
        if idx is None:
            idx = order[inst] = len(order)
            layers.append([])
        layers[idx].append(r)
        last = idx
    if layers:
        passes.append(Pass(layers, "module"))
    passes = [p for p in passes if len(p.layers) >= 2]
    covered = sum(len(layer) for p in passes for layer in p.layers)
    return passes if covered >= MIN_MODULE_SHARE * len(group) else []  # e.g. eager attention between graph pieces


# ---------------------------------------------------------------------------------------------
# periodicity
# ---------------------------------------------------------------------------------------------

@dataclass
class _Found:
    bounds: list[list[tuple[int, int]]]  # per pass: (start, end) positions of each layer
    score: float  # share of the kernels inside layers × share of those that are layer keys


def _candidate_counts(counts: Counter) -> list[int]:
    by_count = Counter(n for n in counts.values() if n >= 2)
    if not by_count:
        return []
    floor = max(1, ceil(max(by_count.values()) / 4))
    ranked = sorted((c for c, k in by_count.items() if k >= floor), key=lambda c: (-by_count[c], -c))
    return ranked[:MAX_CANDIDATE_COUNTS]


def _layer_keys(positions: dict[Hashable, list[int]], keys: list[Hashable],
                n_layers: int) -> tuple[list[int], list[int], set] | None:
    """(lo, hi) core bounds per layer, and the layer keys kept: keys that occur once per layer in one order."""
    if not keys:
        return None
    med = [sorted(positions[k][i] for k in keys)[len(keys) // 2] for i in range(n_layers)]
    dev = sorted(keys, key=lambda k: max(abs(p - m) for p, m in zip(positions[k], med)))
    lo, hi = list(positions[dev[0]]), list(positions[dev[0]])
    if any(hi[i] >= lo[i + 1] for i in range(n_layers - 1)):
        return None
    kept = {dev[0]}
    for k in dev[1:]:
        p = positions[k]
        nlo = [min(a, b) for a, b in zip(lo, p)]
        nhi = [max(a, b) for a, b in zip(hi, p)]
        if all(nhi[i] < nlo[i + 1] for i in range(n_layers - 1)):
            lo, hi = nlo, nhi
            kept.add(k)
    return lo, hi, kept


def _runs(lo: list[int], hi: list[int]) -> list[tuple[int, int]]:
    """Layer index ranges [a, b) of the passes: a gap far longer than the others ends a pass."""
    n = len(lo)
    gaps = [lo[i + 1] - hi[i] - 1 for i in range(n - 1)]
    cores = sorted(h - l + 1 for l, h in zip(lo, hi))
    typical = (cores[len(cores) // 2] + (sorted(gaps)[len(gaps) // 2] if gaps else 0))
    out, start = [], 0
    for i, g in enumerate(gaps):
        if g > 2 * typical + 4:
            out.append((start, i + 1))
            start = i + 1
    out.append((start, n))
    return [r for r in out if r[1] - r[0] >= 2]


def _common_suffix(a: list, b: list) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _common_prefix(a: list, b: list) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _loose_suffix(prefix: list, head: list) -> int:
    """Kernels at the end of `prefix` that match `head` read backwards, head kernels allowed to be
    missing (a first layer without a piece the others have)."""
    i, j = len(prefix) - 1, len(head) - 1
    while i >= 0 and j >= 0:
        if prefix[i] == head[j]:
            i -= 1
        j -= 1
    return len(prefix) - 1 - i


def _loose_prefix(suffix: list, tail: list) -> int:
    """`_loose_suffix` mirrored: kernels at the start of `suffix` matching `tail` read forwards."""
    return _loose_suffix(suffix[::-1], tail[::-1])


def _split_gaps(gaps: list[list], prefix: list, suffix: list) -> list[int]:
    """Per gap, how many of its kernels stay with the layer before it (the rest start the next)."""
    if not gaps:
        return []
    core = object()
    starts: list = [core] + list(dict.fromkeys(gaps[0]))[:MAX_START_KEYS]
    best, best_score = [len(g) for g in gaps], None
    for x in starts:
        if x is core:
            cut = [len(g) for g in gaps]
        else:
            if any(x not in g for g in gaps):
                continue
            cut = [g.index(x) for g in gaps]
        heads = [g[c:] for g, c in zip(gaps, cut)]
        tails = [g[:c] for g, c in zip(gaps, cut)]
        head_ok = any(_common_suffix(prefix, h) == len(h) for h in heads)
        tail_ok = any(_common_prefix(suffix, t) == len(t) for t in tails)
        score = (head_ok + tail_ok, sum(map(len, heads)))
        if best_score is None or score > best_score:
            best, best_score = cut, score
    return best


def _pass_bounds(keys: list, lo: list[int], hi: list[int], run: tuple[int, int], prev_end: int,
                 next_start: int) -> list[tuple[int, int]]:
    a, b = run
    gaps = [keys[hi[i] + 1:lo[i + 1]] for i in range(a, b - 1)]
    prefix, suffix = keys[prev_end:lo[a]], keys[hi[b - 1] + 1:next_start]
    cut = _split_gaps(gaps, prefix, suffix)
    heads = [g[c:] for g, c in zip(gaps, cut)]
    tails = [g[:c] for g, c in zip(gaps, cut)]
    head0 = max((_loose_suffix(prefix, h) for h in heads), default=0)
    tail_last = max((_loose_prefix(suffix, t) for t in tails), default=0)
    starts = [lo[a] - head0] + [hi[i] + 1 + cut[i - a] for i in range(a, b - 1)]
    ends = starts[1:] + [hi[b - 1] + 1 + tail_last]
    return list(zip(starts, ends))


def _try_count(keys: list, positions: dict, counts: Counter, n_layers: int) -> _Found | None:
    cores = _layer_keys(positions, [k for k, c in counts.items() if c == n_layers], n_layers)
    if cores is None:
        return None
    lo, hi, kept = cores
    runs = _runs(lo, hi)
    if not runs:
        return None
    bounds, prev_end = [], 0
    for j, run in enumerate(runs):
        nxt = lo[runs[j + 1][0]] if j + 1 < len(runs) else len(keys)
        b = _pass_bounds(keys, lo, hi, run, prev_end, nxt)
        prev_end = b[-1][1]
        bounds.append(b)
    inside = sum(e - s for b in bounds for s, e in b)
    if inside < MIN_INSIDE_SHARE * len(keys):
        return None  # a repeat that explains little of the step is not a layer stack
    anchored = sum(1 for b in bounds for s, e in b for k in keys[s:e] if k in kept)
    return _Found(bounds, inside / len(keys) * anchored / max(inside, 1))


def periodic_bounds(keys: list[Hashable]) -> list[list[tuple[int, int]]]:
    """Per pass, the (start, end) positions of its layers in `keys` (empty when no structure)."""
    counts = Counter(keys)
    positions: dict[Hashable, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        positions[k].append(i)
    best: _Found | None = None
    for n_layers in _candidate_counts(counts):
        found = _try_count(keys, positions, counts, n_layers)
        if found and (best is None or found.score > best.score):
            best = found
    return best.bounds if best else []


def _major_streams(group: list[dict]) -> set:
    counts = Counter(r.get("stream") for r in group)
    return {s for s, n in counts.items() if n >= MINOR_STREAM_SHARE * len(group)}


def periodic_passes(group: list[dict], key: Callable[[dict], Hashable], source: str) -> list[Pass]:
    """Passes found by periodicity of `key` over the step's kernels on its major streams."""
    streams = _major_streams(group)
    seq = [r for r in group if r.get("stream") in streams]
    keys = [key(r) for r in seq]
    return [Pass([seq[s:e] for s, e in bounds], source) for bounds in periodic_bounds(keys)]


def find_passes(group: list[dict], key: Callable[[dict], Hashable]) -> list[Pass]:
    """The forward passes of one step (program order): module evidence, else periodicity."""
    passes = module_passes(group)
    if not passes:
        with_stack = sum(1 for r in group if r.get("site") and not r.get("is_graph")) > len(group) // 2
        passes = periodic_passes(group, (lambda r: (key(r), r.get("site"))) if with_stack else key,
                                 "stack" if with_stack else "periodicity")
    for p in passes:
        p.kernels = group
        first = p.layers[0][0] if p.layers and p.layers[0] else {}
        p.file_id, p.step = first.get("file_id"), first.get("step")
    return passes
