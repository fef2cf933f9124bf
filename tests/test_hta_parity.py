"""`category_overlap` and the `hta` view follow HolisticTraceAnalysis's rule, checked against the
figures HTA itself computes on the traces HTA ships (tests/data/traces/other/hta-*, from HTA's repo).

Expected figures: HolisticTraceAnalysis 0.5.0 (`pip install HolisticTraceAnalysis` in a scratch
venv outside the repository, Python 3.11), each root's files copied to a folder and analysed with
``ta = hta.trace_analysis.TraceAnalysis(trace_dir=<folder>)`` then
``ta.get_gpu_kernel_breakdown(visualize=False, include_memory_kernels=True)[0]`` (kernel-type
table, µs, summed over the ranks), ``ta.get_temporal_breakdown(visualize=False)`` and
``ta.get_comm_comp_overlap(visualize=False)`` (per rank). HTA is not a dependency: the numbers are
written down here.

HTA analyses only the GPU activities it keeps, so the test selects the same ones from the raw
trace, as HTA 0.5.0's source does: `hta/common/trace.py` ``_filter_irrelevant_gpu_kernels`` keeps
a GPU activity when a CPU event with its correlation id started before the last ``ProfilerStep#``
annotation; `hta/common/trace_parser.py` ``round_down_time_stamps`` parses ts/dur as float64 µs
and, for ns-resolution traces, rounds the start up and the end down to whole µs.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from pipeline.analyze.overlap import analyze_overlap
from pipeline.classify import classify

OTHER = Path(__file__).parent / "data" / "traces" / "other"
KINDS = {"kernel": "kernel", "gpu_memcpy": "memcpy", "gpu_memset": "memset"}
HTA_TYPES = {"COMPUTATION": "compute", "COMMUNICATION": "communication", "MEMORY": "memory"}

# get_gpu_kernel_breakdown(include_memory_kernels=True)[0]: kernel_type -> sum (µs), all ranks
KERNEL_TYPES = {
    "hta-ns-resolution-v100-resnet-training": {"COMPUTATION": 372150, "MEMORY": 2371},
    "hta-2rank-sendrecv": {
        "COMMUNICATION": 305584, "COMPUTATION": 185023, "COMPUTATION overlapping COMMUNICATION": 56747,
        "MEMORY": 2288, "COMMUNICATION overlapping MEMORY": 1011, "COMPUTATION overlapping MEMORY": 18,
        "COMPUTATION overlapping COMMUNICATION overlapping MEMORY": 12,
    },
}
# get_temporal_breakdown(): per rank (idle, compute, non_compute, kernel_time) µs;
# get_comm_comp_overlap(): per rank comp_comm_overlap_pctg (NaN without communication)
TEMPORAL = {
    "hta-ns-resolution-v100-resnet-training": {0: ((10113, 372150, 2371, 384634), None)},
    "hta-2rank-sendrecv": {0: ((321378, 106252, 172428, 600058), 11.81),
                           1: ((328671, 135548, 136455, 600674), 20.05)},
}
FILES = {"hta-ns-resolution-v100-resnet-training": {0: "rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"},
         "hta-2rank-sendrecv": {0: "sampled_rank-0.json.gz", 1: "sampled_rank-1.json.gz"}}


def hta_kept(path: Path) -> list[dict]:
    """The GPU activities HTA 0.5.0 analyses, as kernel records on HTA's µs grid (times in ns)."""
    events = json.loads(gzip.open(path).read())["traceEvents"]  # float64, as HTA parses
    last_step = max(e["ts"] for e in events if str(e.get("name", "")).startswith("ProfilerStep#"))
    launched = {e["args"]["correlation"] for e in events if e.get("ph") == "X" and e.get("cat") not in KINDS
                and "correlation" in e.get("args", {}) and e["ts"] < last_step}
    out = []
    for e in events:
        if e.get("ph") != "X" or e.get("cat") not in KINDS or e["args"].get("correlation") not in launched:
            continue
        start, end = e["ts"], e["ts"] + e["dur"]
        if isinstance(start, float) or isinstance(end, float):  # ns-resolution trace: HTA's rounding
            start, end = math.ceil(start), math.floor(end)
        out.append({"name": e["name"], "display_name": e["name"], "family": classify(e["name"]),
                    "kind": KINDS[e["cat"]], "ts_ns": int(start) * 1000, "dur_ns": int(end - start) * 1000,
                    "stream": e["args"].get("stream", e.get("tid")), "device": 0, "site": None,
                    "launch_ts_ns": None})
    return out


def _key(hta_type: str) -> str:
    """HTA's 'COMPUTATION overlapping MEMORY' → our 'compute+memory'."""
    return "+".join(sorted(HTA_TYPES[t] for t in hta_type.split(" overlapping ")))


@pytest.fixture(scope="module", params=sorted(FILES))
def root(request) -> tuple[str, dict[int, dict]]:
    return request.param, {rank: analyze_overlap(hta_kept(OTHER / request.param / name))
                           for rank, name in FILES[request.param].items()}


def test_category_overlap_equals_htas_kernel_type_breakdown(root):
    name, per_rank = root
    ours: dict[str, int] = {}
    for r in per_rank.values():
        for key, ns in r["category_overlap"].items():
            ours[key] = ours.get(key, 0) + ns
    assert ours == {_key(t): us * 1000 for t, us in KERNEL_TYPES[name].items()}


def test_hta_view_equals_htas_temporal_breakdown_and_comm_comp_overlap(root):
    name, per_rank = root
    for rank, ((idle, compute, non_compute, kernel_time), overlap_pctg) in TEMPORAL[name].items():
        hta = per_rank[rank]["hta"]
        assert (hta["idle_time_ns"], hta["compute_time_ns"], hta["non_compute_time_ns"], hta["kernel_time_ns"]) == (
            idle * 1000, compute * 1000, non_compute * 1000, kernel_time * 1000)
        assert hta["comp_comm_overlap_pctg"] == overlap_pctg


def test_the_family_view_is_not_htas_where_copy_kernels_run():
    """Copy / fill kernels are memory by family, computation for HTA: the two fields differ there."""
    kept = hta_kept(OTHER / "hta-2rank-sendrecv" / "sampled_rank-0.json.gz")
    r = analyze_overlap(kept)
    memory = sum(v for k, v in r["category_overlap"].items() if "memory" in k.split("+"))
    by_family = sum(v for k, v in r["family_category_overlap"].items() if "memory" in k.split("+"))
    assert any(k["kind"] == "kernel" and k["family"] == "memory" for k in kept) and by_family > memory
    assert sum(r["category_overlap"].values()) == sum(r["family_category_overlap"].values()) == r["busy_ns"]
