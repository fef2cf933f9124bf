"""Steps and stages: which step each GPU activity belongs to, and whether it is prefill or decode.

A file's stage comes from discovery (its name). Inside a file, step annotations
(`pipeline/catalog/steps.toml`) split the timeline; a kernel belongs to the step whose
GPU-side annotation window holds it, else whose CPU-side window holds its launch. A step's
stage comes from its annotation (`mixed` when it holds both); otherwise the file's stage.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from pipeline.paths import read_catalog

OUTSIDE = "outside"  # stage of kernels that fall outside every step window of a file with steps


@dataclass(frozen=True)
class Step:
    """One step window on one timeline."""

    index: int
    name: str
    stage: str
    start_ns: int
    end_ns: int
    gpu: bool  # window from a gpu_user_annotation (device time) rather than CPU time
    pid: str | None = None


@lru_cache(maxsize=1)
def _markers() -> list[tuple[int, re.Pattern, dict]]:
    out = [(m["priority"], re.compile(m["pattern"]), m) for m in read_catalog("steps.toml")["marker"]]
    return sorted(out, key=lambda t: -t[0])


def step_stage(name: str) -> tuple[int, str] | None:
    """(priority, stage) of a step annotation name, or None when it is not a step marker."""
    for priority, regex, marker in _markers():
        m = regex.match(name)
        if not m:
            continue
        groups = m.groupdict()
        if "mode" in groups:
            mode = groups["mode"]
            stage = ("prefill" if mode in marker["prefill_modes"] else "decode" if mode in marker["decode_modes"]
                     else "mixed" if mode in marker["mixed_modes"] else "unknown")
        elif "context" in groups:
            ctx, gen = int(groups["context"]), int(groups["generation"])
            stage = "mixed" if ctx and gen else "prefill" if ctx else "decode" if gen else "unknown"
        else:
            stage = "unknown"
        return priority, stage
    return None


def group_by_stage(records: list[dict]) -> dict[str, list[dict]]:
    """Kernel records grouped by their ``stage`` (insertion order kept)."""
    out: dict[str, list[dict]] = {}
    for k in records:
        out.setdefault(k["stage"], []).append(k)
    return out


def build_steps(annotations: list[dict]) -> list[Step]:
    """Steps of one file from its annotations (``cat, name, ts_ns, dur_ns, pid``), in time order.

    Only the highest-priority marker kind present is used; GPU windows are preferred over
    CPU windows of the same name.
    """
    found = [(step_stage(a["name"] or ""), a) for a in annotations]
    found = [(s, a) for s, a in found if s is not None]
    if not found:
        return []
    top = max(s[0] for s, _ in found)
    chosen = [(s, a) for s, a in found if s[0] == top]
    gpu = [(s, a) for s, a in chosen if a["cat"] == "gpu_user_annotation"]
    use = gpu or [(s, a) for s, a in chosen if a["cat"] != "gpu_user_annotation"]
    use.sort(key=lambda t: t[1]["ts_ns"])
    return [
        Step(i, a["name"], s[1], a["ts_ns"], a["ts_ns"] + (a["dur_ns"] or 0), bool(gpu), a.get("pid"))
        for i, (s, a) in enumerate(use)
    ]


def assign_steps(kernels: list[dict], steps: list[Step], file_stage: str) -> None:
    """Set ``step``, ``step_name`` and ``stage`` on each kernel record, in place.

    O((n + s) log s): each kernel looks up the last step starting before its time point. A
    GPU-side window is exact; a CPU-side window extends to the next step's start, because work
    launched right after a step's annotation closes (sampling, output copies) still belongs
    to that step.
    """
    starts = [s.start_ns for s in steps]
    for k in kernels:
        point = k["ts_ns"] if not steps or steps[0].gpu else (k.get("launch_ts_ns") or k.get("anchor_ts_ns"))
        step = None
        if point is not None and steps:
            i = bisect_right(starts, point) - 1
            if i >= 0 and (point <= steps[i].end_ns or not steps[i].gpu):
                step = steps[i]
        k["step"] = step.index if step else None
        k["step_name"] = step.name if step else None
        if steps and step is None:
            k["stage"] = OUTSIDE  # e.g. kernels launched before the profiler's CPU side started
            continue
        stage = step.stage if step and step.stage != "unknown" else file_stage
        k["stage"] = stage if stage in ("prefill", "decode", "mixed") else "unknown"
