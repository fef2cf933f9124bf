"""Mapping ↔ formal alignment by kernel ORDER within a step (never by name lookup).

A *mapping* trace (CUDA graphs off) attributes every kernel to its CPU op and Python stack; a
*formal* trace (graphs on) loses that for replayed kernels. For each formal step we globally align
its kernel sequence with a representative mapping step of the same stage:

1. keys: ``normalise_key`` strips what varies with batch size (GEMM tile strings, template
   numbers, addresses) and keeps the kernel's identity;
2. anchors: Myers' O((n+m)·D) diff on the key sequences (D = edits; small, since one model runs
   the same kernels in the same order) gives the exact-key matches; if D would exceed a budget the
   diff runs on family sequences instead;
3. gaps between anchors are filled by an LCS on kernel families ("family" matches: a tile or
   backend variant at the same place); what stays unpaired (an inserted memcpy, a dropped
   split-K reduce) is unmatched.

Pure Python over kernel records (``docs/architecture.md``); no dagster.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

WRAPPER_MARKERS = ("cuda_graph_runner", "graph_runner", "cudaGraphLaunch", "hipGraphLaunch",
                   "compilation/cuda_graph.py", "compilation/piecewise_backend.py", "torch/cuda/graphs.py",
                   "Torch-Compiled Region", "torch/_dynamo/")
NEEDS_MAPPING = ("graph", "none")
UNKNOWN_FAMILIES = (None, "", "other")
GAP_DP_CELLS = 40_000  # family LCS inside a gap up to this many cells, positional pairing beyond
MAX_D = 1_000  # Myers edit budget per step before falling back to family sequences

_NVJET = re.compile(r"^(nvjet_(?:sm\d+_)?[a-z]+)_\d.*$")
_CIJK = re.compile(r"^(Cijk_.*?)_MT\d.*$")
_TILE = re.compile(r"\d+(?:x\d+)+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_NUM = re.compile(r"(?<![\w])\d+(?![\w])")
_MANGLED_INT = re.compile(r"Li\d+E")
_ALIGN = re.compile(r"_align\d+")


@functools.lru_cache(maxsize=1 << 16)
def normalise_key(name: str) -> str:
    """Kernel identity without the batch-size-dependent parts: ``nvjet_tst_128x128_64x6_2x1_v_bz_
    splitK_TNT`` → ``nvjet_tst``; hipBLASLt ``Cijk_…_MT128x256x32_…`` → ``Cijk_…``; tile strings
    (``64x64_64x4``, ``tilesize128x128x64``), alignment suffixes, standalone numbers (template
    arguments), mangled ints (``Li256E``) and addresses become ``#``."""
    s = name.strip()
    m = _NVJET.match(s) or _CIJK.match(s)
    if m:
        return m.group(1)
    s = _HEX.sub("0x#", s)
    s = _TILE.sub("#", s)
    s = _ALIGN.sub("_align#", s)
    s = _MANGLED_INT.sub("Li#E", s)
    return " ".join(_NUM.sub("#", s).split())


def is_wrapper_site(site: str | None) -> bool:
    """A graph-replay / compile trampoline frame, never a real attribution."""
    return bool(site) and any(w in site for w in WRAPPER_MARKERS)


@dataclass
class Match:
    """One formal kernel and its mapping counterpart (``None`` when unmatched)."""

    formal: dict
    mapping: dict | None
    kind: str | None  # "exact" | "family" | None
    step: int  # index of the formal step


@dataclass
class AlignmentResult:
    """Matches for every formal kernel, in formal step order."""

    matches: list[Match] = field(default_factory=list)
    representatives: dict[str, int] = field(default_factory=dict)  # stage → mapping step index
    methods: Counter = field(default_factory=Counter)  # "myers" | "family" | "positional" per step
    within_trace: bool = False

    def __post_init__(self) -> None:
        self._index: dict = {}

    def match_for(self, rec: dict) -> Match | None:
        if len(self._index) != len(self.matches):
            self._index = {_rid(m.formal): m for m in self.matches}
        return self._index.get(_rid(rec))

    def summary(self) -> dict:
        kinds = Counter(m.kind or "unmatched" for m in self.matches)
        return {"kernels": len(self.matches), "exact": kinds["exact"], "family": kinds["family"],
                "unmatched": kinds["unmatched"], "representatives": dict(self.representatives),
                "methods": dict(self.methods), "within_trace": self.within_trace}


def _rid(rec: dict):
    return (rec.get("file_id"), rec["ev"]) if "ev" in rec else id(rec)


# --------------------------------------------------------------------------------------------
# sequence alignment
# --------------------------------------------------------------------------------------------

def _myers(a: list[int], b: list[int], max_d: int) -> list[tuple[int, int]] | None:
    """Matched (i, j) pairs of a shortest edit script, or None when it needs more than max_d edits."""
    n, m = len(a), len(b)
    off = max_d + 1
    v = [0] * (2 * off + 1)
    trace: list[list[int]] = []
    for d in range(max_d + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
                x = v[off + k + 1]
            else:
                x = v[off + k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[off + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, n, m, off)
    return None


def _backtrack(trace: list[list[int]], n: int, m: int, off: int) -> list[tuple[int, int]]:
    x, y = n, m
    pairs: list[tuple[int, int]] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        pk = k + 1 if (k == -d or (k != d and v[off + k - 1] < v[off + k + 1])) else k - 1
        px = v[off + pk]
        py = px - pk
        while x > px and y > py:
            x -= 1
            y -= 1
            pairs.append((x, y))
        x, y = px, py
    pairs.reverse()
    return pairs


def _lcs(a: list[int], b: list[int]) -> list[tuple[int, int]]:
    """LCS pairs by DP (small inputs only)."""
    n, m = len(a), len(b)
    t = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        ti, tn, ai = t[i], t[i + 1], a[i]
        for j in range(m - 1, -1, -1):
            ti[j] = tn[j + 1] + 1 if ai == b[j] else max(tn[j], ti[j + 1])
    i = j = 0
    out = []
    while i < n and j < m:
        if a[i] == b[j]:
            out.append((i, j))
            i += 1
            j += 1
        elif t[i + 1][j] >= t[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


def _positional(a: list[int], b: list[int]) -> list[tuple[int, int]]:
    """Pair equal values in order, scanning ``b`` proportionally to ``a`` (large gaps only)."""
    out, j = [], 0
    for i, x in enumerate(a):
        lo = max(j, int(i * len(b) / max(len(a), 1)) - 8)
        for jj in range(lo, min(len(b), lo + 32)):
            if b[jj] == x:
                out.append((i, jj))
                j = jj + 1
                break
    return out


def _fill(fa: list[int], fb: list[int], anchors: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Anchors plus family pairs inside each gap between consecutive anchors."""
    out: list[tuple[int, int]] = []
    pi, pj = -1, -1
    for i, j in anchors + [(len(fa), len(fb))]:
        ga, gb = fa[pi + 1:i], fb[pj + 1:j]
        if ga and gb:
            inner = _lcs(ga, gb) if len(ga) * len(gb) <= GAP_DP_CELLS else _positional(ga, gb)
            out += [(pi + 1 + x, pj + 1 + y) for x, y in inner]
        if i < len(fa):
            out.append((i, j))
        pi, pj = i, j
    return out


def _family_ids(fams: list[str], ids: dict[str, int]) -> list[int]:
    """Family → int; an unknown family ("other", none) never matches anything (fresh negative ids)."""
    out = []
    for f in fams:
        if f in UNKNOWN_FAMILIES:
            ids["#fresh"] = ids.get("#fresh", 0) - 1
            out.append(ids["#fresh"])
        else:
            out.append(ids.setdefault(f, len(ids)))
    return out


def align_sequences(ka: list[str], kb: list[str], fa: list[str], fb: list[str]) -> tuple[list[tuple[int, int, str]], str]:
    """Global alignment of mapping (a) and formal (b) kernels given keys and families.
    Returns (i, j, kind) triples and the method used."""
    ids: dict[str, int] = {}
    ia = [ids.setdefault(k, len(ids)) for k in ka]
    ib = [ids.setdefault(k, len(ids)) for k in kb]
    fids: dict[str, int] = {}
    ja = _family_ids(fa, fids)
    jb = _family_ids(fb, fids)
    method = "myers"
    anchors = _myers(ia, ib, MAX_D)
    if anchors is None:
        method = "family"
        anchors = _myers(ja, jb, MAX_D)
    if anchors is None:
        method = "positional"
        anchors = _positional(ja, jb)
    pairs = _fill(ja, jb, anchors)
    return [(i, j, "exact" if ia[i] == ib[j] else "family") for i, j in pairs], method


# --------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------

def _ordered(step: Iterable[dict]) -> list[dict]:
    """Program order: by launch time (CPU issue order, independent of how streams overlapped on
    the GPU), then GPU start (kernels of one graph replay share their launch)."""
    def key(r: dict) -> tuple:
        t = r.get("launch_ts_ns")
        return (r["ts_ns"] if t is None else t, r["ts_ns"], r.get("stream", 0), r.get("ev", 0))
    return sorted(step, key=key)


def _stage(step: list[dict]) -> str:
    c = Counter(r.get("stage") or "unknown" for r in step)
    return c.most_common(1)[0][0] if c else "unknown"


def _representatives(steps: list[list[dict]]) -> dict[str, int]:
    """Per stage: the index of the step with the most common key sequence (ties: median length)."""
    by_stage: dict[str, list[int]] = {}
    for i, s in enumerate(steps):
        if s:
            by_stage.setdefault(_stage(s), []).append(i)
    reps = {}
    for stage, idx in by_stage.items():
        seqs = {i: tuple(normalise_key(r["name"]) for r in steps[i]) for i in idx}
        counts = Counter(seqs.values())
        lengths = sorted(len(s) for s in seqs.values())
        median = lengths[len(lengths) // 2]
        reps[stage] = min(idx, key=lambda i: (-counts[seqs[i]], abs(len(seqs[i]) - median), i))
    return reps


def align_steps(mapping_steps: list[list[dict]], formal_steps: list[list[dict]], *,
                family_of: Callable[[str], str] | None = None) -> AlignmentResult:
    """Align every formal step with the representative mapping step of its stage (or, without
    one, the representative closest in length)."""
    fam = (lambda r: family_of(r["name"])) if family_of else (lambda r: r.get("family") or "other")
    mapping = [_ordered(s) for s in mapping_steps]
    reps = _representatives(mapping)
    result = AlignmentResult(representatives=reps)
    prepared = {st: (mapping[i], [normalise_key(r["name"]) for r in mapping[i]], [fam(r) for r in mapping[i]])
                for st, i in reps.items()}
    for si, raw in enumerate(formal_steps):
        step = _ordered(raw)
        if not prepared:
            result.matches += [Match(r, None, None, si) for r in step]
            continue
        st = _stage(step)
        rep = prepared.get(st) or min(prepared.values(), key=lambda p: abs(len(p[0]) - len(step)))
        kb, fb = [normalise_key(r["name"]) for r in step], [fam(r) for r in step]
        pairs, method = align_sequences(rep[1], kb, rep[2], fb)
        result.methods[method] += 1
        by_j = {j: (i, kind) for i, j, kind in pairs}
        for j, r in enumerate(step):
            i, kind = by_j.get(j, (None, None))
            result.matches.append(Match(r, rep[0][i] if i is not None else None, kind, si))
    return result


def align_within_trace(steps: list[list[dict]], *, family_of: Callable[[str], str] | None = None) -> AlignmentResult:
    """One trace maps itself: its eager steps (no graph kernel) are the mapping, its graph steps
    the formal (SGLang runs extend eagerly and decode as graph replays). ``within_trace`` is set."""
    eager = [s for s in steps if s and not any(r.get("is_graph") for r in s)]
    graph = [s for s in steps if any(r.get("is_graph") for r in s)]
    result = align_steps(eager, graph, family_of=family_of)
    result.within_trace = True
    return result


# --------------------------------------------------------------------------------------------
# transfer and coverage
# --------------------------------------------------------------------------------------------

def _needs_mapping(rec: dict) -> bool:
    """Graph replays, unattributed kernels, and kernels attributed only to an enclosing wrapper."""
    att = rec.get("attribution")
    return bool(rec.get("is_graph")) or att in NEEDS_MAPPING or \
        (att != "direct" and is_wrapper_site(rec.get("site")))


def transfer(formal: list[dict], result: AlignmentResult) -> list[dict]:
    """Copies of ``formal`` where kernels without a real attribution (graph replays, unattributed,
    wrapper sites) take site, stack, cpu_op and cpu_op_ev from their matched mapping kernel
    (``attribution='mapped'``; ``cpu_op_ev`` then refers to the mapping file). Eager kernels keep
    their own attribution; a mapping kernel without a real site transfers nothing."""
    out = []
    for rec in formal:
        new = dict(rec)
        m = result.match_for(rec)
        src = m.mapping if m else None
        if src is not None and _needs_mapping(rec) and src.get("site") and not is_wrapper_site(src["site"]):
            new.update(site=src["site"], stack=list(src.get("stack") or []), cpu_op=src.get("cpu_op"),
                       cpu_op_ev=src.get("cpu_op_ev"), attribution="mapped")
        out.append(new)
    return out


def match_rate(formal: list[dict]) -> dict:
    """Share of the kernels that needed mapping (graph replays, unattributed) now ``mapped``,
    by count and by GPU time."""
    need = [r for r in formal if r.get("attribution") == "mapped" or _needs_mapping(r)]
    mapped = [r for r in need if r.get("attribution") == "mapped"]
    t = sum(r["dur_ns"] for r in need)
    mt = sum(r["dur_ns"] for r in mapped)
    return {"by_count": len(mapped) / len(need) if need else 1.0, "by_time": mt / t if t else 1.0,
            "kernels": len(need), "mapped": len(mapped), "time_ns": t, "mapped_ns": mt}
