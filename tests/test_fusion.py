"""Fuse-pattern catalog and matcher: one split and one fused case per entry, the reference
tool's false positives, chain semantics, gating, near-miss levels and the real traces."""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from pipeline.analyze.fusion import load_catalog, match_fusions, near_miss_level
from pipeline.classify import classify, display_name

CATALOG = load_catalog()
BY_ID = {p.id: p for p in CATALOG}
TRACES = Path(__file__).parent / "data" / "traces"
ALL_FRAMEWORKS = ("sglang", "vllm", "trtllm")


def rec(name: str, ts_us: float, dur_us: float = 5.0, *, stream: int = 7, step: int = 0,
        op: int | None = None, site: str | None = None) -> dict:
    """A kernel record with the kernel_facts columns the matcher reads."""
    return {
        "name": name, "display_name": display_name(name), "family": classify(name),
        "ts_ns": int(ts_us * 1000), "dur_ns": int(dur_us * 1000), "stream": stream,
        "step": step, "cpu_op_ev": op, "site": site, "kind": "kernel",
    }


def chain(names, start_us: float = 0.0, gap_us: float = 2.0, **kw) -> list[dict]:
    """Back-to-back kernels, each 5 us, separated by `gap_us`; distinct CPU ops."""
    out, t = [], start_us
    for i, n in enumerate(names):
        out.append(rec(n, t, op=1000 + i, **kw))
        t += 5.0 + gap_us
    return out


def context_for(p) -> dict:
    """Gates that let pattern `p` through."""
    return {
        "stage": p.stages[0],
        "framework": p.frameworks[0],
        "platform": p.platforms[0] if p.platforms else "cuda",
        "tp": max(p.min_tp or 1, 1),
        "model": p.models[0] if p.models else None,
    }


def run(kernels, **ctx) -> dict:
    total = sum(k["dur_ns"] for k in kernels) or 1
    return match_fusions(kernels, total_time_ns=total, **ctx)


def item(result: dict, pid: str) -> dict | None:
    return next((f for f in result["fusions"] if f["pattern"] == pid), None)


# ------------------------------------------------------------------ catalog


def test_catalog_size_and_coverage():
    assert len(CATALOG) >= 40
    fws = {f for p in CATALOG for f in p.frameworks}
    assert {"sglang", "vllm", "trtllm"} <= fws
    repos = {s.split(":", 1)[0] for p in CATALOG for s in p.source_paths}
    assert {"sgl-project/sglang", "vllm-project/vllm", "NVIDIA/TensorRT-LLM",
            "flashinfer-ai/flashinfer", "ROCm/aiter"} <= repos
    assert any(p.platforms == ("rocm",) for p in CATALOG)


@pytest.mark.parametrize("p", CATALOG, ids=lambda p: p.id)
def test_entry_fields(p):
    assert p.origin in ("mainline", "upstream-elsewhere", "in-flight")
    assert (p.origin == "in-flight") == bool(p.pr)
    assert p.source_paths and all(":" in s and not s.startswith("/") for s in p.source_paths)
    assert "2026" in p.checked and p.conclusion.endswith(".")
    assert set(p.stages) <= {"prefill", "decode"} and p.stages
    assert set(p.frameworks) <= {"sglang", "vllm", "trtllm", "tokenspeed"}
    assert len(p.example_split) == len(p.chain) >= 2
    assert all(s in BY_ID for s in p.subsumes)
    regexes = [p.fused, p.glue, *(r for e in (*p.chain, *p.alt_chain) for r in (e.name, e.exclude))]
    assert all(re.compile(r.pattern) for r in regexes if r is not None)  # in use, compiled when first searched


@pytest.mark.parametrize("p", CATALOG, ids=lambda p: p.id)
def test_entry_split_form(p):
    res = run(chain(p.example_split), **context_for(p))
    got = item(res, p.id)
    assert got is not None, res
    assert got["status"] == "split" and got["occurrences"] == 1


@pytest.mark.parametrize("p", CATALOG, ids=lambda p: p.id)
def test_entry_fused_form(p):
    res = run([rec(p.example_fused, 0.0)], **context_for(p))
    got = item(res, p.id)
    assert got is not None and got["status"] == "fused"
    assert got["evidence"] == [display_name(p.example_fused)]


# ------------------------------------------------------------------ reference-tool false positives

FA3 = ("void cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdSm90<"
       "flash::CollectiveMainloopFwdSm90<2, cute::tuple<cute::C<1>, cute::C<1>, cute::C<1> > > > > >"
       "(flash::FlashAttnFwdSm90::Params)")
NVJET = "nvjet_tst_128x256_64x4_1x2_h_bz_coopA_TNT"
ROPE = BY_ID["rope_kv_store"].example_split[0]
CUDA_QWEN = {"stage": "decode", "framework": "sglang", "platform": "cuda", "tp": 1,
             "model": "Qwen/Qwen3-8B"}


def test_kvcache_site_does_not_fire_kv_fusions():
    site = "sgl_kernel/flash_attn.py:120 flash_attn_with_kvcache"
    kernels = [rec(ROPE, 0, site=site), rec(FA3, 7, site=site), rec(NVJET, 50, site=site)]
    res = run(kernels, **CUDA_QWEN)
    kv = {"rope_kv_store", "rope_reshape_and_cache", "qknorm_rope_kv_store", "kv_cache_fp8_store"}
    assert not kv & {f["pattern"] for f in res["fusions"]}


def test_unquantized_gemm_site_does_not_fire_quant_fusions():
    site = "sglang/srt/layers/quantization/unquant.py:134 default_unquantized_gemm"
    kernels = [rec(NVJET, i * 20.0, site=site) for i in range(4)] + [rec(FA3, 100)]
    res = run(kernels, stage="prefill", framework="sglang", platform="cuda", tp=1, model=None)
    assert not [f for f in res["fusions"] if "quant" in f["pattern"]], res["fusions"]
    assert not [m for m in res["near_misses"] if "quant" in m["pattern"]]


def test_plain_fused_add_rmsnorm_is_not_allreduce_fusion():
    fused = BY_ID["add_rmsnorm_fp8_quant"].example_split[0]  # flashinfer FusedAddRMSNormKernel
    res = run([rec(fused, 0)], stage="decode", framework="sglang", platform="cuda", tp=4, model=None)
    assert item(res, "allreduce_add_rmsnorm") is None
    assert item(res, "add_rmsnorm")["status"] == "fused"


def test_rocm_only_pattern_never_fires_on_cuda():
    p = BY_ID["aiter_add_rmsnorm_quant"]
    for kernels in ([rec(p.example_fused, 0)], chain(p.example_split)):
        res = run(kernels, stage="decode", framework="sglang", platform="cuda", tp=1, model=None)
        assert item(res, p.id) is None
        res = run(kernels, stage="decode", framework="sglang", platform="rocm", tp=1, model=None)
        assert item(res, p.id) is not None


# ------------------------------------------------------------------ chain semantics and gating

P = BY_ID["add_rmsnorm"]
CTX = {"stage": "decode", "framework": "vllm", "platform": "cuda", "tp": 1, "model": None}


def test_one_launch_group_is_not_split():
    kernels = [rec(n, i * 7.0, op=42) for i, n in enumerate(P.example_split)]
    res = run(kernels, **CTX)
    assert item(res, P.id) is None
    assert all(m["pattern"] != P.id for m in res["near_misses"])


def test_gap_larger_than_max_gap_breaks_chain():
    kernels = chain(P.example_split, gap_us=P.max_gap_ns / 1000 + 1)
    assert item(run(kernels, **CTX), P.id) is None
    kernels = chain(P.example_split, gap_us=P.max_gap_ns / 1000 - 1)
    assert item(run(kernels, **CTX), P.id)["status"] == "split"


def test_chain_must_be_on_one_stream_and_step_and_adjacent():
    a, b = P.example_split
    assert item(run([rec(a, 0, stream=7), rec(b, 7, stream=8)], **CTX), P.id) is None
    assert item(run([rec(a, 0, step=0), rec(b, 7, step=1)], **CTX), P.id) is None
    between = rec(FA3, 7)
    assert item(run([rec(a, 0), between, rec(b, 14)], **CTX), P.id) is None
    glue = rec(BY_ID["concat_mla_k"].example_split[1], 7)  # a direct copy is default glue
    assert item(run([rec(a, 0), glue, rec(b, 14)], **CTX), P.id)["status"] == "split"


def test_input_order_does_not_matter_and_both_status():
    kernels = chain(P.example_split) + [rec(P.example_fused, 100)]
    res = run(list(reversed(kernels)), **CTX)
    got = item(res, P.id)
    assert got["status"] == "both" and got["occurrences"] == 2
    assert got["candidate_path"].startswith("vllm-project/vllm:")


def test_stage_gating():
    p = BY_ID["fa3_scheduler_metadata"]
    ctx = context_for(p) | {"stage": "prefill"}
    assert item(run([rec(p.example_fused, 0)], **ctx), p.id) is None
    assert item(run([rec(p.example_fused, 0)], **context_for(p)), p.id) is not None


def test_framework_tp_and_model_gating():
    p = BY_ID["allreduce_add_rmsnorm"]
    kernels = chain(p.example_split)
    base = {"stage": "decode", "framework": "vllm", "platform": "cuda", "model": None}
    assert item(run(kernels, tp=1, **base), p.id) is None
    assert item(run(kernels, tp=8, **base), p.id)["status"] == "split"
    assert item(run(kernels, tp=None, **base), p.id)["status"] == "split"
    rope = BY_ID["rope_kv_store"]  # SGLang-only
    assert item(run(chain(rope.example_split), **CTX), rope.id) is None
    q = BY_ID["qknorm_rope"]
    ctx = context_for(q)
    assert item(run(chain(q.example_split), **(ctx | {"model": "meta-llama/Llama-3-8B"})), q.id) is None


def test_context_elements_do_not_count_in_share():
    p = BY_ID["attn_output_quant"]
    attn, quant = p.example_split
    kernels = [rec(attn, 0, dur_us=500.0), rec(quant, 502, dur_us=5.0)]
    got = item(run(kernels, **context_for(p)), p.id)
    assert got["time_ns"] == 5_000 and len(got["evidence"]) == 2


def test_subsumed_split_is_dropped():
    p = BY_ID["qknorm_rope_kv_store"]
    res = run(chain(p.example_split), **(context_for(p) | {"platform": "rocm"}))
    ids = {f["pattern"] for f in res["fusions"]}
    assert p.id in ids and not ids & set(p.subsumes)


def test_sites_reported_not_matched():
    a, b = P.example_split
    kernels = [rec(a, 0, site="m.py:1 f"), rec(b, 7, site="m.py:2 g", dur_us=50.0)]
    assert item(run(kernels, **CTX), P.id)["sites"] == ["m.py:2 g", "m.py:1 f"]


# ------------------------------------------------------------------ near misses


@pytest.mark.parametrize("chain_len,run_len,present,level", [
    (3, 2, 2, "high"), (4, 3, 3, "high"), (4, 2, 2, "medium"), (5, 3, 3, "medium"),
    (3, 1, 3, "low"), (2, 1, 2, "low"), (3, 1, 2, None), (3, 0, 0, None),
])
def test_near_miss_rule(chain_len, run_len, present, level):
    assert near_miss_level(chain_len, run_len, present) == level


def test_near_miss_levels_from_kernels():
    p = BY_ID["qknorm_rope_kv_store"]
    ctx = context_for(p) | {"platform": "rocm"}
    n1, n2, rope, store = p.example_split
    res = run(chain([n1, n2, rope]), **ctx)  # 3 of 4 adjacent in order, no store at all
    high = [m for m in res["near_misses"] if m["pattern"] == p.id]
    # qknorm_rope matched fully here, so the 4-chain is a near miss with the store missing
    assert high and high[0]["level"] == "high" and high[0]["missing"] == ["kv-cache store"]
    spaced = [rec(n1, 0), rec(FA3, 7), rec(n2, 14), rec(FA3, 21), rec(rope, 28), rec(FA3, 35),
              rec(store, 42)]
    low = [m for m in run(spaced, **ctx)["near_misses"] if m["pattern"] == p.id]
    assert low and low[0]["level"] == "low"


# ------------------------------------------------------------------ real traces


def trace_kernels(path: Path) -> list[dict]:
    """Kernel records from a Kineto trace: cat == kernel, ts order per stream."""
    data = orjson.loads(gzip.open(path).read())
    events = data["traceEvents"] if isinstance(data, dict) else data
    streams: dict[tuple, list[dict]] = defaultdict(list)
    for e in events:
        if e.get("cat") == "kernel":
            streams[(e.get("pid"), e.get("tid"))].append(e)
    out = []
    for sid, evs in enumerate(streams.values()):
        for e in sorted(evs, key=lambda e: e["ts"]):
            out.append({
                "name": e["name"], "display_name": e["name"], "family": None,
                "ts_ns": int(e["ts"] * 1000), "dur_ns": int(e.get("dur", 0) * 1000),
                "stream": sid, "step": 0, "cpu_op_ev": None, "site": None,
            })
    return out


def real(path: Path, **ctx) -> dict:
    kernels = trace_kernels(path)
    return run(kernels, **ctx)


def test_real_vllm_b200_tp8_prefill():
    path = TRACES / "vllm/gpt-oss-120b-b200-tp8-eager-prefill-rank0/eager_trace.json.gz"
    res = real(path, stage="prefill", framework="vllm", platform="cuda", tp=8, model="gpt-oss-120b")
    status = {f["pattern"]: f["status"] for f in res["fusions"]}
    assert status["add_rmsnorm"] == "fused"
    assert status["kv_cache_fp8_store"] == "fused"
    assert status["gemm_act_epilogue"] == "fused"
    assert status["allreduce_add_rmsnorm"] == "split"  # eager run: no AllReduceFusionPass


def test_real_sglang_mi300x_decode():
    path = TRACES / "sglang/qwen3-8b-mi300x-decode-graph-bs32/sglang_Qwen3-8B_decode.json.gz"
    res = real(path, stage="decode", framework="sglang", platform="rocm", tp=1, model="Qwen/Qwen3-8B")
    status = {f["pattern"]: f["status"] for f in res["fusions"]}
    assert status["aiter_add_rmsnorm_quant"] == "fused"
    assert status["act_and_mul"] == "fused"
    assert status["qknorm_rope_kv_store"] == "split"
    assert "aiter_add_rmsnorm_fp8_quant" not in status  # BF16 run: FUSE_QUANT flag is off
    cuda = real(path, stage="decode", framework="sglang", platform="cuda", tp=1, model=None)
    assert not {f["pattern"] for f in cuda["fusions"]} & {"aiter_add_rmsnorm_quant"}
