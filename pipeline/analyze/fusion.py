"""Fuse-pattern matcher: ordered kernel chains on one stream within one step.

The catalog (`pipeline/catalog/fusions.toml`) lists fusions that exist upstream. For one
stage of one trace, a pattern is reported as

* ``fused``  when a kernel whose name matches ``fused_kernels`` ran;
* ``split``  when its ``split_chain`` (or its alternative ``split_chain_alt``) ran as adjacent
  kernels on one stream within one step (gaps bounded by ``max_gap_ns``, "glue" kernels such as
  copies allowed in between), and those kernels were not all launched by the same CPU op;
* ``both``   when both happened in the stage.

Patterns that match neither may still show up as near misses (see `near_miss_level`).
Only kernel names and families are matched; sites are reported, never matched.
Semantics are documented in ``docs/fusions.md``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

from pipeline.analyze.fusion_scan import Stage, best_run, scan
from pipeline.gc_pause import without_gc
from pipeline.paths import read_catalog

CATALOG = "fusions.toml"
DEFAULT_MAX_GAP_NS = 100_000
FRAMEWORK_REPOS = {
    "sglang": "sgl-project/sglang",
    "vllm": "vllm-project/vllm",
    "trtllm": "NVIDIA/TensorRT-LLM",
    "tokenspeed": "lightseekorg/tokenspeed",
}
KNOWN_STAGES = ("prefill", "decode")
TOP_SITES = 3
LEVEL_ORDER = {"high": 0, "medium": 1, "low": 2}


class Regex:
    """A catalog regex, compiled when first searched: a stage reads the patterns of its own
    framework and platform only, and compiling all ~300 at load was ~40 ms of every process.
    Answers are kept per kernel name (up to `MEMO` names): the stages of a root share most names."""

    __slots__ = ("pattern", "_compiled", "_seen")
    MEMO = 4096

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None
        self._seen: dict[str, bool] = {}

    def search(self, text: str) -> bool:
        """Whether the regex matches anywhere in `text`."""
        hit = self._seen.get(text)
        if hit is None:
            if self._compiled is None:
                self._compiled = re.compile(self.pattern)
            hit = self._compiled.search(text) is not None
            if len(self._seen) < self.MEMO:
                self._seen[text] = hit
        return hit


@dataclass(frozen=True)
class ChainElement:
    """One step of a split chain: a family and/or a name regex, minus an exclusion."""

    label: str
    family: str | None
    name: Regex | None
    exclude: Regex | None
    context: bool = False  # matched for order only; its time is not counted

    def matches(self, name: str, family: str | None) -> bool:
        if self.family is not None and family != self.family:
            return False
        if self.name is not None and not self.name.search(name):
            return False
        return not (self.exclude is not None and self.exclude.search(name))


@dataclass(frozen=True)
class Pattern:
    """One catalog entry (its regexes compiled when first searched)."""

    id: str
    title: str
    frameworks: tuple[str, ...]
    origin: str
    pr: str | None
    source_paths: tuple[str, ...]
    checked: str
    fused: Regex | None
    chain: tuple[ChainElement, ...]
    glue: Regex | None
    max_gap_ns: int
    stages: tuple[str, ...]
    min_tp: int | None
    models: tuple[str, ...]
    platforms: tuple[str, ...]
    conclusion: str
    example_split: tuple[str, ...]
    example_fused: str
    subsumes: tuple[str, ...] = ()
    alt_chain: tuple[ChainElement, ...] = ()  # another unfused form of the same fusion
    example_split_alt: tuple[str, ...] = ()

    def chains(self) -> tuple[tuple[ChainElement, ...], ...]:
        """The split chain, then the alternative one when the entry has it."""
        return (self.chain, self.alt_chain) if self.alt_chain else (self.chain,)


# --------------------------------------------------------------------------- catalog


def _regex(parts: str | Sequence[str] | None) -> Regex | None:
    if not parts:
        return None
    if isinstance(parts, str):
        parts = [parts]
    return Regex("|".join(f"(?:{p})" for p in parts))


def _element(raw: dict[str, Any]) -> ChainElement:
    family = raw.get("family")
    name = raw.get("name")
    if family is None and name is None:
        raise ValueError(f"chain element needs family or name: {raw}")
    label = raw.get("label") or family or name
    exclude = _regex(raw.get("exclude"))
    return ChainElement(label, family, _regex(name), exclude, bool(raw.get("context", False)))


def _pattern(raw: dict[str, Any], defaults: dict[str, Any]) -> Pattern:
    chain = tuple(_element(e) for e in raw["split_chain"])
    alt = tuple(_element(e) for e in raw.get("split_chain_alt", ()))
    if len(chain) < 2 or len(alt) == 1:
        raise ValueError(f"{raw['id']}: a split chain needs at least two elements")
    if len(raw.get("example_split_alt", ())) != len(alt):
        raise ValueError(f"{raw['id']}: example_split_alt needs one kernel name per split_chain_alt element")
    return Pattern(
        id=raw["id"],
        title=raw["title"],
        frameworks=tuple(raw["frameworks"]),
        origin=raw["origin"],
        pr=raw.get("pr"),
        source_paths=tuple(raw["source_paths"]),
        checked=raw["checked"],
        fused=_regex(raw.get("fused_kernels")),
        chain=chain,
        glue=_regex(raw.get("glue", defaults.get("glue"))),
        max_gap_ns=int(raw.get("max_gap_ns", defaults.get("max_gap_ns", DEFAULT_MAX_GAP_NS))),
        stages=tuple(raw.get("stages", KNOWN_STAGES)),
        min_tp=raw.get("min_tp"),
        models=tuple(m.lower() for m in raw.get("models", ())),
        platforms=tuple(raw.get("platforms", ())),
        conclusion=raw["conclusion"],
        example_split=tuple(raw["example_split"]),
        example_fused=raw["example_fused"],
        subsumes=tuple(raw.get("subsumes", ())),
        alt_chain=alt,
        example_split_alt=tuple(raw.get("example_split_alt", ())),
    )


@lru_cache(maxsize=1)
def _load() -> tuple[Pattern, ...]:
    data = read_catalog(CATALOG)
    defaults = data.get("defaults", {})
    return tuple(_pattern(raw, defaults) for raw in data["pattern"])


def load_catalog() -> list[Pattern]:
    """All catalog patterns, each regex compiled once per process (when first searched)."""
    return list(_load())


def compile_catalog() -> int:
    """Compile every catalog regex now (a warm server does, once); returns how many."""
    regexes = [r for p in _load() for r in (p.fused, p.glue) if r is not None]
    regexes += [r for p in _load() for chain in p.chains() for el in chain for r in (el.name, el.exclude) if r]
    for regex in regexes:
        regex.search("")
    return len(regexes)


# --------------------------------------------------------------------------- gating


def applies(p: Pattern, *, stage: str, framework: str | None, platform: str | None) -> bool:
    """Hard gates: stage, framework and platform (unknown values let a pattern through)."""
    if stage in KNOWN_STAGES and stage not in p.stages:
        return False
    if framework and framework != "unknown" and framework not in p.frameworks:
        return False
    return not (platform and platform != "unknown" and p.platforms and platform not in p.platforms)


def split_allowed(p: Pattern, *, tp: int | None, model: str | None) -> bool:
    """Soft gates for split/near-miss reports: TP size and model (unknown lets it through)."""
    if p.min_tp is not None and tp is not None and tp < p.min_tp:
        return False
    if p.models and model:
        return any(m in model.lower() for m in p.models)
    return True


# --------------------------------------------------------------------------- near misses


def near_miss_level(chain_len: int, run: int, present: int) -> str | None:
    """Level for a pattern that neither ran fused nor matched split.

    `run`: longest in-order run of consecutive chain elements seen as adjacent kernels;
    `present`: how many distinct chain elements occur anywhere in the stage.
    high: run >= 2 and run >= 2/3 of the chain; medium: run >= 2;
    low: no adjacent run, but every element occurs somewhere; else no near miss.
    """
    if run >= 2 and run * 3 >= chain_len * 2:
        return "high"
    if run >= 2:
        return "medium"
    if present == chain_len:
        return "low"
    return None


# --------------------------------------------------------------------------- reporting


def _evidence(st: Stage, idx: Iterable[int]) -> tuple[int, list[str], list[str]]:
    by_name: dict[str, int] = defaultdict(int)
    by_site: dict[str, int] = defaultdict(int)
    total = 0
    for i in idx:
        dur = st.dur[i]
        total += dur
        by_name[st.display[i] or st.name[i]] += dur
        if st.site[i]:
            by_site[st.site[i]] += dur
    names = sorted(by_name, key=lambda n: (-by_name[n], n))
    sites = sorted(by_site, key=lambda s: (-by_site[s], s))[:TOP_SITES]
    return total, names, sites


def candidate_path(p: Pattern, framework: str | None) -> str:
    """First source path from the trace framework's repository, else the first one."""
    repo = FRAMEWORK_REPOS.get(framework or "")
    for path in p.source_paths:
        if repo and path.startswith(repo + ":"):
            return path
    return p.source_paths[0]


def _fusion_item(p, st: Stage, fused_idx, chains, framework, total_time_ns) -> dict:
    """`chains`: (elements, kernel indices) per split occurrence."""
    counted = {i for els, c in chains for e, i in zip(els, c) if not e.context}
    context = {i for els, c in chains for e, i in zip(els, c) if e.context}
    time_ns, _, sites = _evidence(st, sorted(set(fused_idx) | counted))
    _, names, _ = _evidence(st, sorted(set(fused_idx) | counted | context))
    status = "both" if fused_idx and chains else ("fused" if fused_idx else "split")
    return {
        "pattern": p.id,
        "title": p.title,
        "status": status,
        "origin": p.origin,
        "pr": p.pr,
        "time_ns": time_ns,
        "share": time_ns / total_time_ns if total_time_ns else 0.0,
        "evidence": names,
        "sites": sites,
        "candidate_path": candidate_path(p, framework),
        "conclusion": p.conclusion,
        "occurrences": len(fused_idx) + len(chains),
        "fused_occurrences": len(fused_idx),
        "split_occurrences": len(chains),
    }


def _near_miss_item(p: Pattern, run: list[int], present: set[int]) -> dict | None:
    level = near_miss_level(len(p.chain), len(run), len(present))
    if level is None:
        return None
    matched = run if len(run) >= 2 else sorted(present)
    labels = [e.label for e in p.chain]
    return {
        "pattern": p.id,
        "title": p.title,
        "level": level,
        "matched": [labels[i] for i in matched],
        "missing": [lab for i, lab in enumerate(labels) if i not in matched],
    }


def _drop_subsumed(fusions: list[dict], patterns: Sequence[Pattern]) -> list[dict]:
    """Drop split-only items covered by a longer pattern that also matched split."""
    subsumes = {p.id: set(p.subsumes) for p in patterns}
    covered = {
        sub for f in fusions if f["status"] in ("split", "both") for sub in subsumes[f["pattern"]]
    }
    return [f for f in fusions if not (f["status"] == "split" and f["pattern"] in covered)]


# --------------------------------------------------------------------------- entry point


def _classify_names(p: Pattern, distinct: list[tuple[str, str | None]]) -> tuple[list, list, list]:
    """Per distinct (name, family) pair: fused hit, element hits per split chain, glue hit."""
    fused = [p.fused is not None and p.fused.search(name) for name, _ in distinct]
    hits = [[tuple(e.matches(name, fam) for e in els) for name, fam in distinct] for els in p.chains()]
    glue = [p.glue is not None and p.glue.search(name) for name, _ in distinct]
    return fused, hits, glue


def _split_chains(p: Pattern, st: Stage, hits: list, glue: list) -> tuple[list, int]:
    """(elements, kernels) of every split occurrence over all of `p`'s chains, and launch groups seen.

    An occurrence of the alternative chain that shares a kernel with one of the main chain is dropped.
    """
    found: list[tuple[tuple[ChainElement, ...], list[int]]] = []
    grouped = 0
    taken: set[int] = set()
    for els, h in zip(p.chains(), hits):
        chains, g = scan(len(els), p.max_gap_ns, st, h, glue)
        grouped += g
        for c in chains:
            if taken.isdisjoint(c):
                found.append((els, c))
        taken.update(i for _, c in found for i in c)
    return found, grouped


@without_gc
def match_fusions(
    kernels: Any,
    *,
    stage: str,
    framework: str | None,
    platform: str | None,
    tp: int | None,
    model: str | None,
    total_time_ns: int,
    patterns: Sequence[Pattern] | None = None,
) -> dict:
    """Fusion table for one stage's kernels (records or an Arrow table, any order): fusions and near misses."""
    st = Stage.of(kernels)
    fusions: list[dict] = []
    near: list[dict] = []
    for p in patterns if patterns is not None else _load():
        if not applies(p, stage=stage, framework=framework, platform=platform):
            continue
        fused, hits, glue = _classify_names(p, st.distinct)
        fused_idx = sorted(i for d, f in enumerate(fused) if f for i in st.members[d])
        chains, grouped = [], 0
        if split_allowed(p, tp=tp, model=model):
            chains, grouped = _split_chains(p, st, hits, glue)
        if fused_idx or chains:
            fusions.append(_fusion_item(p, st, fused_idx, chains, framework, total_time_ns))
        elif grouped == 0 and split_allowed(p, tp=tp, model=model):
            main = hits[0]  # near misses are judged against the main chain
            present = {e for row in main for e, h in enumerate(row) if h}  # every distinct pair occurs
            item = _near_miss_item(p, best_run(len(p.chain), p.max_gap_ns, st, main, glue), present)
            if item:
                near.append(item)
    fusions = _drop_subsumed(fusions, patterns if patterns is not None else _load())
    fusions.sort(key=lambda f: (-f["time_ns"], f["pattern"]))
    near.sort(key=lambda m: (LEVEL_ORDER[m["level"]], m["pattern"]))
    return {"fusions": fusions, "near_misses": near}
