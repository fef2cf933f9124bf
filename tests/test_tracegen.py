"""The generator's traces have the structure of the real Kineto files in tests/data/traces."""
from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import orjson
import pytest

from tracegen import (FRAMEWORKS, ModelSpec, file_name, kernel_records, make_pair, make_trace,
                            make_trace_with_truth, steps_of, write_trace)

TRACES = Path(__file__).parent / "data" / "traces"
HF = TRACES / "hf-transformers/qwen1.5-0.5b-chat-h100-bs16-forward/Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz"
SGL_ROCM = sorted((TRACES / "sglang").glob("qwen3-8b-mi300x-*/*.json.gz"))
OPTIONAL = {"python_function": {"Python module id"}, "kernel": {"External id"}, "gpu_memcpy": {"External id"},
            "cuda_runtime": {"External id", "kernel", "grid", "block", "shared memory", "src", "dst", "bytes", "kind"}}


@lru_cache(maxsize=None)
def _real(*paths: Path) -> dict:
    """Per category: union of arg keys, keys on every event, event keys; plus top-level keys."""
    union, always, evkeys, top = defaultdict(set), {}, defaultdict(set), set()
    for p in paths:
        obj = orjson.loads(gzip.open(p).read())
        top |= set(obj)
        for e in obj["traceEvents"]:
            c = e.get("cat") or e["ph"]
            keys = set(e.get("args") or {})
            union[c] |= keys
            always[c] = always.get(c, keys) & keys
            evkeys[c] |= set(e)
    return {"union": union, "always": always, "evkeys": evkeys, "top": top}


def _gen_keys(obj: dict) -> tuple[dict, dict]:
    args, evk = defaultdict(set), defaultdict(set)
    for e in obj["traceEvents"]:
        c = e.get("cat") or e["ph"]
        args[c] |= set(e.get("args") or {})
        evk[c] |= set(e)
    return args, evk


def _check_against(obj: dict, real: dict, fallback: dict | None = None) -> None:
    """Generated keys ⊆ real keys, and keys on every real event present (``fallback`` for the
    categories a sliced real file lacks: M events, the Trace span)."""
    args, evk = _gen_keys(obj)
    assert set(obj) <= real["top"], set(obj) - real["top"]
    for cat, keys in args.items():
        ref = fallback if cat not in real["union"] and fallback else real
        assert cat in ref["union"], cat
        assert keys <= ref["union"][cat], (cat, keys - ref["union"][cat])
        missing = ref["always"][cat] - keys - OPTIONAL.get(cat, set())
        assert not missing, (cat, missing)
        assert evk[cat] <= ref["evkeys"][cat], (cat, evk[cat] - ref["evkeys"][cat])


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cuda_args_match_the_h100_trace(fw: str, mode: str) -> None:
    _check_against(make_trace(ModelSpec(layers=2, framework=fw), steps=2, mode=mode), _real(HF))


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_rocm_args_match_the_sglang_mi300x_traces(mode: str) -> None:
    obj = make_trace(ModelSpec(layers=2, vendor="rocm"), steps=2, mode=mode)
    _check_against(obj, _real(*SGL_ROCM), fallback=_real(HF))
    launches = Counter(e["name"] for e in obj["traceEvents"] if e.get("cat") == "cuda_runtime")
    assert set(launches) <= {"hipLaunchKernel", "hipExtModuleLaunchKernel", "hipGraphLaunch"}
    names = {e["name"] for e in obj["traceEvents"] if e.get("cat") == "kernel"}
    assert any(n.startswith("Cijk_Alik_Bljk_") and "_MT" in n for n in names)


def _by(obj: dict, cat: str) -> list[dict]:
    return [e for e in obj["traceEvents"] if e.get("cat") == cat]


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["pid"], inner["tid"]) == (outer["pid"], outer["tid"]) and \
        outer["ts"] <= inner["ts"] and inner["ts"] + inner.get("dur", 0) <= outer["ts"] + outer["dur"] + 1e-6


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_eager_linkage(fw: str) -> None:
    obj = make_trace(ModelSpec(layers=2, framework=fw), steps=2, streams=2)
    kernels, rts, ops = _by(obj, "kernel"), _by(obj, "cuda_runtime"), _by(obj, "cpu_op")
    by_corr = {e["args"]["correlation"]: e for e in rts}
    assert len(by_corr) == len(rts)
    op_by_ext = {e["args"]["External id"]: e for e in ops}
    for k in kernels:
        rt = by_corr[k["args"]["correlation"]]
        assert rt["args"]["External id"] == k["args"]["External id"]
        op = op_by_ext[k["args"]["External id"]]
        assert _inside(rt, op) and rt["ts"] <= k["ts"]
    assert len({k["args"]["stream"] for k in kernels}) == 2
    flows = Counter((e["ph"], e["id"]) for e in obj["traceEvents"] if e.get("cat") == "ac2g")
    assert all(flows[("s", c)] == 1 and flows[("f", c)] == 1 for c in by_corr)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_python_tree_encloses_cpu_ops(fw: str) -> None:
    obj = make_trace(ModelSpec(layers=2, framework=fw), steps=2)
    py = {e["args"]["Python id"]: e for e in _by(obj, "python_function")}
    assert sorted(py) == list(range(1, len(py) + 1))
    for e in py.values():
        parent = e["args"]["Python parent id"]
        assert parent is None or _inside(e, py[parent])
    assert any("module.py(1773): _wrapped_call_impl" in e["name"] for e in py.values())
    assert all(any(_inside(op, f) for f in py.values()) for op in _by(obj, "cpu_op"))
    assert {e["args"]["name"] for e in obj["traceEvents"] if e.get("name") == "process_name"} == \
        {{"sglang": "sglang::scheduler_TP0", "vllm": "VLLM::Worker_TP0", "trtllm": "python3"}[fw]}


@pytest.mark.parametrize("fw", ["sglang", "trtllm"])
def test_graph_replay_shares_one_correlation(fw: str) -> None:
    obj = make_trace(ModelSpec(layers=3, framework=fw), steps=2, mode="graph")
    launches = [e for e in _by(obj, "cuda_runtime") if e["name"] == "cudaGraphLaunch"]
    assert len(launches) == 2 and all("External id" not in e["args"] for e in launches)
    kernels = _by(obj, "kernel")
    per = Counter(k["args"]["correlation"] for k in kernels)
    assert set(per) == {e["args"]["correlation"] for e in launches} and set(per.values()) == {len(kernels) // 2}
    assert not any("External id" in k["args"] for k in kernels)
    flows = Counter((e["ph"], e["id"]) for e in obj["traceEvents"] if e.get("cat") == "ac2g")
    assert all(flows[("s", c)] == 1 and flows[("f", c)] == n for c, n in per.items())


def test_vllm_piecewise_keeps_attention_eager() -> None:
    spec = ModelSpec(layers=3, framework="vllm")
    obj = make_trace(spec, steps=1, mode="piecewise")
    assert sum(e["name"] == "cudaGraphLaunch" for e in _by(obj, "cuda_runtime")) == spec.layers + 1
    recs = kernel_records(obj)
    eager = [r for r in recs if not r["is_graph"]]
    assert eager and {r["family"] for r in eager} == {"attention"} and all(r["cpu_op"] for r in eager)
    graph = [r for r in recs if r["is_graph"]]
    assert graph and all(r["cpu_op"] is None and r["attribution"] == "graph" for r in graph)
    assert any("vllm/compilation/cuda_graph.py" in f for f in graph[0]["stack"])


def test_timestamps_are_relative_microseconds_with_three_decimals(tmp_path: Path) -> None:
    obj = make_trace(ModelSpec(layers=1), steps=1)
    text = write_trace(obj, tmp_path / "t.json").read_text()
    assert re.search(r'"baseTimeNanoseconds":\d{19}', text)
    stamps = re.findall(r'"(?:ts|dur)":([0-9.]+)', text)
    assert stamps and all(re.fullmatch(r"\d+(\.\d{1,3})?", s) for s in stamps)
    assert {e["pid"] for e in obj["traceEvents"] if isinstance(e["pid"], str)} == {"Spans", "Traces"}


@pytest.mark.parametrize("fw,pattern", [("sglang", r"step\[DECODE bs=16\]"),
                                        ("vllm", r"execute_context_0\(0\)_generation_16\(16\)"),
                                        ("trtllm", r"ProfilerStep#\d+")])
def test_steps_are_annotated(fw: str, pattern: str) -> None:
    obj = make_trace(ModelSpec(layers=1, framework=fw), steps=3)
    for cat in ("user_annotation", "gpu_user_annotation"):
        names = [e["name"] for e in _by(obj, cat)]
        assert len(names) == 3 and all(re.fullmatch(pattern, n) for n in names)
    assert [len(s) for s in steps_of(kernel_records(obj))] == [12, 12, 12]


def test_deterministic_per_seed() -> None:
    spec = ModelSpec(layers=2)
    a, b = (orjson.dumps(make_trace(spec, steps=2, mode="graph", seed=3)) for _ in range(2))
    assert a == b
    assert a != orjson.dumps(make_trace(spec, steps=2, mode="graph", seed=4))


def test_write_trace_gzip_roundtrip(tmp_path: Path) -> None:
    obj = make_trace(ModelSpec(layers=1), steps=1)
    p = write_trace(obj, tmp_path / "a" / file_name("sglang", stage="decode", rank=0, role="formal"))
    assert orjson.loads(gzip.open(p).read()) == orjson.loads(orjson.dumps(obj))


def test_file_names() -> None:
    assert re.fullmatch(r"mapping-[\d.]+-TP-1-DECODE\.trace\.json\.gz", file_name("sglang", stage="decode", rank=1, role="mapping"))
    assert re.fullmatch(r"formal-prefill_dp0_pp0_tp0_dcp0_ep0_rank0\.\d{19}\.pt\.trace\.json\.gz",
                        file_name("vllm", stage="prefill", rank=0, role="formal"))
    assert file_name("trtllm", stage="decode", rank=2, role="formal").endswith("trace-rank-2.json")


def test_pair_truth_covers_every_formal_kernel() -> None:
    mapping, formal, truth = make_pair(ModelSpec(layers=3), steps=2)
    recs = kernel_records(formal)
    assert all(truth.get(r) is not None for r in recs)
    assert sum("splitKreduce" in r["name"] for r in recs) == 3 * 2 - 2  # one dropped per step
    assert sum(r["kind"] == "memcpy" for r in recs) == 2  # one inserted per step
    gemm_m = {r["name"] for r in kernel_records(mapping) if r["name"].startswith("nvjet")}
    assert gemm_m and not gemm_m & {r["name"] for r in recs}  # tile strings differ


def test_bench_shape_is_four_events_per_kernel() -> None:
    obj, _ = make_trace_with_truth(ModelSpec.bench(layers=10), steps=11)
    c = Counter(e.get("cat") for e in obj["traceEvents"])
    assert c["kernel"] == 10 * 11 * 8 == c["cuda_runtime"] == c["cpu_op"]
    assert c["kernel"] <= c["python_function"] <= c["kernel"] + 11 * 8
