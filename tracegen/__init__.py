"""Synthetic Kineto (PyTorch-profiler Chrome-trace) traces shaped like SGLang / vLLM / TRT-LLM runs.

The event and args layout follows the real files under ``tests/data/traces`` (see
``shared/reference/trace-formats.md`` §1): ``ts``/``dur`` in µs with 3 decimals relative to
``baseTimeNanoseconds``; kernel ↔ runtime by ``correlation``; kernel/runtime ↔ innermost cpu_op by
``External id``; ``python_function`` trees (``Python id`` / ``Python parent id``) enclosing cpu_ops
on the same pid/tid; ``ac2g`` flows; CUDA graphs as ONE ``cudaGraphLaunch`` whose correlation is
shared by every replayed kernel (which carry no External id).

``make_trace`` builds one trace, ``make_pair`` a mapping (eager) + formal (graph) pair with the
ground truth of every formal kernel, ``kernel_records`` a small reference attribution that turns a
trace into kernel records (``docs/architecture.md`` columns) for tests.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import gc
import gzip
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline.frames import choose_site, display_frame  # the project's one definition of a site
from tracegen import models

BASE_NS = 1_775_078_550_000_000_000  # baseTimeNanoseconds (start of a 3-month interval)
START_NS = 1_365_627_862_757_064  # first event, relative to BASE_NS (~1.4e12 µs like real files)
CPU_PID = 6583
GPU_PID = 0
MODULE = "torch/nn/modules/module.py"
WRAPPED = f"{MODULE}(1773): _wrapped_call_impl"
CALL_IMPL = f"{MODULE}(1784): _call_impl"
FRAMEWORKS = ("sglang", "vllm", "trtllm")
ALL_OPS = ("input_layernorm", "qkv_proj", "rope", "attention", "o_proj",
           "post_attention_layernorm", "gate_up_proj", "act", "down_proj")
BENCH_OPS = tuple(o for o in ALL_OPS if o != "rope")

# --------------------------------------------------------------------------------------------
# catalog: GEMM tiles, kernels, Python frames per framework
# --------------------------------------------------------------------------------------------

# nvjet / sm90_xmma / hipBLASLt tile strings per GEMM role, per tile_variant (batch-size buckets)
TILES = (
    {"o": "64x8_64x16_4x1", "gu": "256x128_64x4_2x1"},
    {"o": "64x16_64x8_2x1", "gu": "128x128_64x6_2x1"},
    {"o": "128x8_64x16_1x1", "gu": "128x256_64x4_1x2"},
)
HIP_TILES = (
    {"o": "MT320x224x64_MI16x16x1", "gu": "MT256x192x64_MI16x16x1"},
    {"o": "MT128x128x64_MI16x16x1", "gu": "MT128x224x64_MI16x16x1"},
    {"o": "MT64x32x128_MI16x16x1", "gu": "MT192x256x32_MI16x16x1"},
)
SPLITK = ("void cublasLt::splitKreduce_kernel<32, 16, int, __nv_bfloat16, __nv_bfloat16, float, "
          "__nv_bfloat16, true, false, false>(cublasLt::cublasSplitKParams<float>, __nv_bfloat16 "
          "const*, __nv_bfloat16 const*, __nv_bfloat16*, float const*, float const*, __nv_bfloat16 "
          "const*, __nv_bfloat16 const*, __nv_bfloat16*, void*, long, float*, int*)")
FA3_PREP = "void flash::prepare_varlen_num_blocks_kernel(int, int, int, int const*, int const*, " \
           "int const*, int const*, int const*, int const*, int, int, int, int, int, " \
           "cutlass::FastDivmod, cutlass::FastDivmod, int*, int*, bool)"
FA3_FWD = ("void cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdSm90<"
           "flash::CollectiveMainloopFwdSm90<2, cute::tuple<cute::C<1>, cute::C<1>, cute::C<1> >, "
           "cute::tuple<cute::C<128>, cute::C<{n}>, cute::C<128> >, 128, cutlass::bfloat16_t, float, "
           "cutlass::arch::Sm90, {causal}, false, false, true, true, {split}, false, true, false, "
           "false, false>, flash::CollectiveEpilogueFwd<cute::tuple<cute::C<128>, cute::C<128>, "
           "cute::C<{n}> >, cute::tuple<cute::C<1>, cute::C<1>, cute::C<1> >, cutlass::bfloat16_t, "
           "cutlass::arch::Sm90, 256, true, true, {split}, false>, flash::VarlenDynamicPersistentTile"
           "Scheduler<128, 176, 128, 128, {split}, true, true, true> > > >(flash::FlashAttnFwdSm90<"
           "flash::CollectiveMainloopFwdSm90>::Params)")
FA3_COMBINE = ("void cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdCombine<"
               "cute::tuple<cute::C<8>, cute::C<128> >, 7, 256, 1, false, true, cutlass::bfloat16_t, "
               "float, cutlass::arch::Sm90> > >(flash::FlashAttnFwdCombine<cute::tuple<cute::C<8>, "
               "cute::C<128> > >::Params)")
MEMCPY = "Memcpy HtoD (Pinned -> Device)"
PDL_LEAD_NS = 2_000  # a PDL-launched kernel starts this long after its predecessor on the stream started


@dataclass(frozen=True)
class KernelDef:
    """One kernel of an op's ordered chain."""

    name: str  # may contain {tile}
    dur_ns: int  # decode duration; prefill multiplies by ``PREFILL_X``
    prefill_x: float = 20.0


@dataclass(frozen=True)
class OpDef:
    """One model op: Python site frames + cpu_op chain + ordered kernel chain (one launch group)."""

    key: str
    block: str  # "layer" | "attn" | "mlp" | "model" (model shell, outside the layers) | "sample" (after the forward)
    module: str | None  # nn.Module class wrapping the op (adds module noise frames)
    frames: tuple[str, ...]  # outermost → innermost, inside the module
    cpu_ops: tuple[str, ...]  # outermost → innermost; kernels carry the innermost op's External id
    kernels: tuple[KernelDef, ...]
    tile: str | None = None  # GEMM role for {tile}


def _gemm(fw: str, vendor: str, role: str, split: bool) -> tuple[KernelDef, ...]:
    if vendor == "rocm":
        return (KernelDef("Cijk_Alik_Bljk_BBS_BH_Bias_HA_S_SAV_UserArgs_{tile}_SN_LDSB0_AFC1_AFEM1_"
                          "AFEM1_ASEM1_CLR1_CADS0_DTLA0_DTLB0_DTVA0_DTVB0_EPS0_FDSI0_GRPM1_GRVWA8_"
                          "GRVWB8_GSU0_GSUAMB_GLS0_ISA942_IU1_K1_LBSPPA2048_LBSPPB256_LBSPPM0_LPA16_"
                          "LPB16_LPM0_LRVW8_LWPMn1_MIAV0_MIWT4_4_MO40_NTn1_NTA0_NTB0_NTC0_NTD0_NTM0_"
                          "NEPBS16_NLCA1_NLCB1_ONLL1_PGR2_PLR1_PKA1_SIA3_SS1_SPO0_SRVW0_SSO0_SVW2_"
                          "TLDS1_USFGROn1_VWA2_VWB2_WSGRA0_WSGRB0_WS64_WG32_8_1", 12_000),)
    if fw == "trtllm":
        main = KernelDef("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize{tile}_warpgroupsize1x1x1_"
                         "execute_segment_k_off_kernel__5x_cublas", 12_000)
    else:
        main = KernelDef("nvjet_tst_{tile}_v_bz_TNT", 12_000)
    return (main, KernelDef(SPLITK, 2_500, 4.0)) if split else (main,)


def _sglang_ops(v: str) -> dict[str, OpDef]:
    sg = "/sgl-workspace/sglang/python/sglang/srt"
    ops_ = "torch/_ops.py(1243): __call__"
    norm = lambda fn, k: (f"{sg}/layers/layernorm.py(126): forward_cuda", f"sgl_kernel/elementwise.py({k}): {fn}",
                          ops_, f"<built-in method {fn} of PyCapsule object at 0x7f1baf030430>")
    lin = lambda line: (f"{sg}/layers/linear.py({line}): forward", "torch/nn/modules/linear.py(134): forward",
                        "<built-in function linear>")
    rms = "void flashinfer::norm::RMSNormKernel<8u, __nv_bfloat16>(__nv_bfloat16*, __nv_bfloat16*, " \
          "__nv_bfloat16*, unsigned int, unsigned int, unsigned int, float, float)"
    return {
        "input_layernorm": OpDef("input_layernorm", "layer", "RMSNorm", norm("rmsnorm", 45), ("sgl_kernel::rmsnorm",),
                                 (KernelDef(rms, 3_000),)),
        "qkv_proj": OpDef("qkv_proj", "attn", "QKVParallelLinear", lin(461), ("aten::linear", "aten::mm"),
                          _gemm("sglang", v, "o", True), "o"),
        "rope": OpDef("rope", "attn", "RotaryEmbedding",
                      (f"{sg}/layers/rotary_embedding.py(233): forward_cuda", "sgl_kernel/rotary_embedding.py(40): apply_rope_with_cos_sin_cache_inplace", ops_),
                      ("sgl_kernel::apply_rope_pos_ids_cos_sin_cache",),
                      (KernelDef("void flashinfer::BatchQKApplyRotaryPosIdsCosSinCacheKernel<true, 128u, 8u, 16u, "
                                 "__nv_bfloat16, long>(__nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, __nv_bfloat16*, "
                                 "float*, long*, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int, "
                                 "unsigned int, unsigned int, unsigned int, unsigned int)", 2_500),)),
        "attention": OpDef("attention", "attn", "RadixAttention",
                           (f"{sg}/layers/radix_attention.py(108): forward", f"{sg}/layers/attention/base_attn_backend.py(85): forward",
                            f"{sg}/layers/attention/flashattention_backend.py(1021): forward_{{stage}}",
                            "sgl_kernel/flash_attn.py(209): flash_attn_with_kvcache", ops_),
                           ("sgl_kernel::fwd",), _fa3()),
        "o_proj": OpDef("o_proj", "attn", "RowParallelLinear", lin(1514), ("aten::linear", "aten::mm"),
                        _gemm("sglang", v, "o", False), "o"),
        "post_attention_layernorm": OpDef(
            "post_attention_layernorm", "layer", "RMSNorm", norm("fused_add_rmsnorm", 63), ("sgl_kernel::fused_add_rmsnorm",),
            (KernelDef("void flashinfer::norm::FusedAddRMSNormKernel<8u, __nv_bfloat16>(__nv_bfloat16*, "
                       "__nv_bfloat16*, __nv_bfloat16*, unsigned int, unsigned int, unsigned int, float, float)", 3_500),)),
        "gate_up_proj": OpDef("gate_up_proj", "mlp", "MergedColumnParallelLinear", lin(461), ("aten::linear", "aten::mm"),
                              _gemm("sglang", v, "gu", False), "gu"),
        "act": OpDef("act", "mlp", "SiluAndMul", (f"{sg}/layers/activation.py(83): forward_cuda", "sgl_kernel/elementwise.py(258): silu_and_mul", ops_),
                     ("sgl_kernel::silu_and_mul",),
                     (KernelDef("void flashinfer::activation::act_and_mul_kernel<__nv_bfloat16, &silu<float>>"
                                "(__nv_bfloat16*, __nv_bfloat16 const*, int)", 3_000),)),
        "down_proj": OpDef("down_proj", "mlp", "RowParallelLinear", lin(1514), ("aten::linear", "aten::mm"),
                           _gemm("sglang", v, "o", False), "o"),
    }


def _fa3() -> tuple[KernelDef, ...]:
    return (KernelDef(FA3_PREP, 2_000, 2.0), KernelDef(FA3_FWD, 9_000), KernelDef(FA3_COMBINE, 2_500, 3.0))


def _vllm_ops(v: str) -> dict[str, OpDef]:
    ml = "vllm/model_executor/layers"
    co = "vllm/model_executor/custom_op.py(46): forward"
    ops_ = "torch/_ops.py(1243): __call__"
    lin = lambda line: (f"{ml}/linear.py({line}): forward", "torch/nn/modules/linear.py(134): forward",
                        "<built-in function linear>")
    return {
        "input_layernorm": OpDef("input_layernorm", "layer", "RMSNorm", (co, f"{ml}/layernorm.py(236): forward_cuda", "vllm/_custom_ops.py(321): rms_norm", ops_),
                                 ("_C::rms_norm",), (KernelDef("void vllm::rms_norm_kernel<c10::BFloat16, 8, 3>(c10::BFloat16*, "
                                                               "c10::BFloat16 const*, long, c10::BFloat16 const*, float, int, int)", 3_000),)),
        "qkv_proj": OpDef("qkv_proj", "attn", "QKVParallelLinear", lin(565), ("aten::linear", "aten::mm"), _gemm("vllm", v, "o", True), "o"),
        "rope": OpDef("rope", "attn", "RotaryEmbedding", (co, f"{ml}/rotary_embedding/base.py(131): forward_cuda", "vllm/_custom_ops.py(297): rotary_embedding", ops_),
                      ("_C::rotary_embedding",), (KernelDef("void vllm::rotary_embedding_kernel<c10::BFloat16, true>(long const*, "
                                                            "c10::BFloat16*, c10::BFloat16*, c10::BFloat16 const*, int, long, long, int, int, int)", 2_500),)),
        "attention": OpDef("attention", "attn", "Attention",
                           ("vllm/attention/layer.py(352): forward", "vllm/attention/layer.py(745): unified_attention_with_output",
                            "vllm/v1/attention/backends/flash_attn.py(612): forward",
                            "vllm/vllm_flash_attn/flash_attn_interface.py(287): flash_attn_varlen_func", ops_),
                           ("vllm::unified_attention_with_output", "_vllm_fa3_C::fwd"), _fa3()),
        "o_proj": OpDef("o_proj", "attn", "RowParallelLinear", lin(1402), ("aten::linear", "aten::mm"), _gemm("vllm", v, "o", False), "o"),
        "post_attention_layernorm": OpDef(
            "post_attention_layernorm", "layer", "RMSNorm", (co, f"{ml}/layernorm.py(231): forward_cuda", "vllm/_custom_ops.py(331): fused_add_rms_norm", ops_),
            ("_C::fused_add_rms_norm",), (KernelDef("void vllm::fused_add_rms_norm_kernel<c10::BFloat16, 8>(c10::BFloat16*, long, "
                                                    "c10::BFloat16*, c10::BFloat16 const*, float, int, int)", 3_500),)),
        "gate_up_proj": OpDef("gate_up_proj", "mlp", "MergedColumnParallelLinear", lin(565), ("aten::linear", "aten::mm"), _gemm("vllm", v, "gu", False), "gu"),
        "act": OpDef("act", "mlp", "SiluAndMul", (co, f"{ml}/activation.py(95): forward_cuda", ops_), ("_C::silu_and_mul",),
                     (KernelDef("void vllm::act_and_mul_kernel<c10::BFloat16, &(c10::BFloat16 vllm::silu_kernel<c10::BFloat16>"
                                "(c10::BFloat16 const&)), true>(c10::BFloat16*, c10::BFloat16 const*, int)", 3_000),)),
        "down_proj": OpDef("down_proj", "mlp", "RowParallelLinear", lin(1402), ("aten::linear", "aten::mm"), _gemm("vllm", v, "o", False), "o"),
    }


def _trtllm_ops(v: str) -> dict[str, OpDef]:
    tm = "/usr/local/lib/python3.12/dist-packages/tensorrt_llm/_torch/modules"
    ops_ = "torch/_ops.py(1243): __call__"
    lin = lambda: (f"{tm}/linear.py(2011): forward", f"{tm}/linear.py(1985): apply_linear", f"{tm}/linear.py(314): apply",
                   "<built-in function linear>")
    norm = lambda line: (f"{tm}/rms_norm.py({line}): forward", ops_)
    gn = "void tensorrt_llm::kernels::generalRmsNorm<__nv_bfloat16, float, {f}>(__nv_bfloat16 const*, " \
         "__nv_bfloat16 const*, __nv_bfloat16 const*, __nv_bfloat16*, float, float const*, float*, int, int)"
    at = "/usr/local/lib/python3.12/dist-packages/tensorrt_llm/_torch/attention_backend/trtllm.py"
    return {
        "input_layernorm": OpDef("input_layernorm", "layer", "RMSNorm", norm(79), ("trtllm::rms_norm",), (KernelDef(gn.replace("{f}", "false"), 3_000),)),
        "qkv_proj": OpDef("qkv_proj", "attn", "Linear", lin(), ("aten::linear", "aten::mm"), _gemm("trtllm", v, "o", True), "o"),
        "rope": OpDef("rope", "attn", "QKNormRoPEAttention", (f"{tm}/qk_norm_attention.py(201): apply_qk_norm_rope", ops_), ("trtllm::fused_qk_norm_rope",),
                      (KernelDef("void tensorrt_llm::kernels::fusedQKNormRopeKernel<128, false>(__nv_bfloat16*, int, int, int, "
                                 "float, __nv_bfloat16 const*, __nv_bfloat16 const*, float, int const*, int)", 2_500),)),
        "attention": OpDef("attention", "attn", "TrtllmAttention", (f"{tm}/attention.py(540): forward_impl", f"{at}(1312): forward", f"{at}(480): run", ops_),
                           ("trtllm::attention",),
                           (KernelDef("void tensorrt_llm::kernels::applyBiasRopeUpdateKVCacheV2<__nv_bfloat16, __nv_bfloat16, 128, "
                                      "false, tensorrt_llm::kernels::KVBlockArray, 32, true>(tensorrt_llm::kernels::QKVPreprocessingParams"
                                      "<__nv_bfloat16, tensorrt_llm::kernels::KVBlockArray>)", 2_000, 4.0),
                            KernelDef("fmha_v2_flash_attention_bf16_64_128_S_q_paged_kv_128_sm90_kernel_nl_tiled", 9_000),
                            KernelDef("void tensorrt_llm::kernels::mergeAttnWithSoftmaxKernel<__nv_bfloat16, 128>(__nv_bfloat16*, "
                                      "float*, __nv_bfloat16 const*, float const*, int)", 2_000, 3.0))),
        "o_proj": OpDef("o_proj", "attn", "Linear", lin(), ("aten::linear", "aten::mm"), _gemm("trtllm", v, "o", False), "o"),
        "post_attention_layernorm": OpDef("post_attention_layernorm", "layer", "RMSNorm", norm(84), ("trtllm::fused_add_rms_norm",),
                                          (KernelDef(gn.replace("{f}", "true"), 3_500),)),
        "gate_up_proj": OpDef("gate_up_proj", "mlp", "Linear", lin(), ("aten::linear", "aten::mm"), _gemm("trtllm", v, "gu", False), "gu"),
        "act": OpDef("act", "mlp", "GatedMLP", (f"{tm}/swiglu.py(98): swiglu", ops_), ("trtllm::silu_and_mul",),
                     (KernelDef("void tensorrt_llm::kernels::swigluKernel<__nv_bfloat16, 8>(__nv_bfloat16*, __nv_bfloat16 const*, int)", 3_000),)),
        "down_proj": OpDef("down_proj", "mlp", "Linear", lin(), ("aten::linear", "aten::mm"), _gemm("trtllm", v, "o", False), "o"),
    }


def _model_frames(fw: str) -> dict[str, Any]:
    """Step-, model-, layer- and block-level frames (outermost → innermost) per framework."""
    if fw == "sglang":
        sg = "/sgl-workspace/sglang/python/sglang/srt"
        m = f"{sg}/models/llama.py"
        return {"proc": "sglang::scheduler_TP{rank}", "step": (f"{sg}/managers/scheduler.py(1032): event_loop_normal",
                f"{sg}/managers/scheduler.py(2919): _run_batch_inner", f"{sg}/managers/tp_worker.py(445): forward_batch_generation",
                f"{sg}/model_executor/model_runner.py(3123): forward", f"{sg}/model_executor/model_runner.py(3194): _forward_raw"),
                "eager": (f"{sg}/model_executor/model_runner.py(2990): forward_{{stage}}",),
                "graph": (f"{sg}/model_executor/cuda_graph_runner.py(1333): replay", "torch/cuda/graphs.py(139): replay"),
                "prepare": (f"{sg}/model_executor/cuda_graph_runner.py(1270): replay_prepare",),
                "model": ("LlamaForCausalLM", f"{m}(460): forward", "LlamaModel", f"{m}(340): forward"),
                "layer": ("LlamaDecoderLayer", f"{m}(282): forward"), "attn": ("LlamaAttention", f"{m}(170): forward"),
                "mlp": ("LlamaMLP", f"{m}(96): forward")}
    if fw == "vllm":
        m = "vllm/model_executor/models/llama.py"
        return {"proc": "VLLM::Worker_TP{rank}", "step": ("vllm/v1/engine/core.py(879): run_busy_loop", "vllm/v1/executor/abstract.py(109): execute_model",
                "vllm/v1/worker/gpu_worker.py(487): execute_model", "torch/utils/_contextlib.py(120): decorate_context",
                "vllm/v1/worker/gpu_model_runner.py(2614): execute_model", "vllm/v1/worker/gpu_model_runner.py(2430): _model_forward"),
                "eager": ("vllm/compilation/decorators.py(392): __call__",),
                "graph": ("vllm/compilation/cuda_graph.py(210): __call__", "torch/cuda/graphs.py(139): replay"),
                "piece": ("vllm/compilation/piecewise_backend.py(121): __call__", "vllm/compilation/cuda_graph.py(210): __call__",
                          "torch/cuda/graphs.py(139): replay"),
                "prepare": ("vllm/v1/worker/gpu_model_runner.py(1288): _prepare_inputs",),
                "model": ("LlamaForCausalLM", f"{m}(581): forward", "LlamaModel", f"{m}(398): forward"),
                "layer": ("LlamaDecoderLayer", f"{m}(318): forward"), "attn": ("LlamaAttention", f"{m}(224): forward"),
                "mlp": ("LlamaMLP", f"{m}(98): forward")}
    tp = "/usr/local/lib/python3.12/dist-packages/tensorrt_llm/_torch"
    m = f"{tp}/models/modeling_llama.py"
    return {"proc": "python3", "step": (f"{tp}/pyexecutor/py_executor.py(1318): _executor_loop", f"{tp}/pyexecutor/py_executor.py(1790): _forward_step",
            f"{tp}/pyexecutor/model_engine.py(2413): forward", f"{tp}/pyexecutor/model_engine.py(2290): _forward_step"),
            "eager": (f"{tp}/models/modeling_utils.py(522): forward",),
            "graph": (f"{tp}/pyexecutor/cuda_graph_runner.py(381): replay", "torch/cuda/graphs.py(139): replay"),
            "prepare": (f"{tp}/pyexecutor/model_engine.py(1702): _prepare_tp_inputs",),
            "model": ("LlamaForCausalLM", f"{m}(1020): forward", "LlamaModel", f"{m}(880): forward"),
            "layer": ("LlamaDecoderLayer", f"{m}(702): forward"), "attn": ("LlamaAttention", f"{m}(330): forward"),
            "mlp": ("GatedMLP", f"{tp}/modules/gated_mlp.py(151): forward")}


# --------------------------------------------------------------------------------------------
# public API types
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """What model to trace. ``detail='lean'`` = one Python frame per op, main kernel only, no flows
    (the reference tool's benchmark shape: ``ModelSpec.bench()`` → 4 events per kernel)."""

    layers: int = 4
    framework: str = "sglang"  # sglang | vllm | trtllm
    vendor: str = "cuda"  # cuda | rocm (args flavour, hip* launches, hipBLASLt names)
    ops: tuple[str, ...] = ALL_OPS
    detail: str = "full"  # full | lean
    rank: int = 0  # process of this rank: CPU pid CPU_PID + rank, GPU pid and args.device = rank
    kernel_scale: float = 1.0  # every kernel duration × this (a slow rank: straggler tests)
    # ops whose first kernel is launched with programmatic dependent launch (Hopper/Blackwell): it
    # starts PDL_LEAD_NS after the previous kernel on its stream started, waits for it to finish,
    # then runs its own duration (ground truth: GroundTruth.pdl_overlap)
    pdl_ops: tuple[str, ...] = ()
    op_scale: tuple[tuple[str, float], ...] = ()  # (op key, factor): that op's kernels × factor (a regression)
    moe: bool = False  # MoE layers (router, top-k, fused experts) instead of the dense MLP: tracegen/models.py
    dense_layers: int = 0  # with moe: the first N layers keep the dense MLP
    shell: bool = False  # embedding, final norm, lm_head and sampling around the layers: tracegen/models.py
    stage_variants: bool = False  # prefill layers run other attention kernels, no split-K: tracegen/models.py

    @classmethod
    def bench(cls, layers: int = 100, framework: str = "sglang") -> "ModelSpec":
        """≈ the reference tool's measured trace (100 layers × 101 steps ≈ 323k events, ~65 MB)."""
        return cls(layers=layers, framework=framework, ops=BENCH_OPS, detail="lean")


@dataclass(frozen=True)
class Truth:
    """Where a kernel really comes from (what an eager run attributes it to)."""

    site: str
    cpu_op: str
    stack: tuple[str, ...]
    op: str
    layer: int  # -1 outside the decoder layers (memcpy, model shell)
    kernel: int = 0  # index of the kernel in its op's chain


@dataclass
class GroundTruth:
    """Truth per kernel, by event index in ``traceEvents`` and by (stream, absolute ts_ns)."""

    by_ev: dict[int, Truth] = field(default_factory=dict)
    by_stream_ts: dict[tuple[int, int], Truth] = field(default_factory=dict)
    # PDL-launched kernels: (stream, absolute ts_ns) → ns their record runs beside the predecessor
    pdl_overlap: dict[tuple[int, int], int] = field(default_factory=dict)

    def get(self, rec: dict) -> Truth | None:
        return self.by_ev.get(rec["ev"]) or self.by_stream_ts.get((rec["stream"], rec["ts_ns"]))


# --------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------

def _us(ns: int) -> float:
    return round(ns / 1000, 3)


class _Writer:
    """Emits events with integer-ns clocks; Python frames are opened/closed along a path diff."""

    def __init__(self, spec: ModelSpec, seed: int, streams: int):
        self.spec, self.fw, self.rocm = spec, spec.framework, spec.vendor == "rocm"
        self.rng = random.Random(seed)
        self.ev: list[dict] = []
        self.truth = GroundTruth()
        self.cpu = START_NS + 50_000
        self.streams = [3, 4][:max(1, min(streams, 2))] if self.rocm else [7, 20][:max(1, min(streams, 2))]
        self.gpu_free = {s: self.cpu for s in self.streams}
        self.last_kernel = {s: (self.cpu, self.cpu) for s in self.streams}  # (start, end) of the stream's last kernel
        self.py_id = self.ev_idx = 0
        self.ext = 1000
        self.corr = 5000
        self.open: list[tuple[tuple, dict]] = []  # (path key, python_function event)
        self.flows = self.shapes = spec.detail == "full"
        self.mod_ids: dict[str, int] = {}
        # one process per rank: its own CPU pid, and the GPU pid / args.device = its device index
        self.cpu_pid, self.gpu_pid = CPU_PID + spec.rank, GPU_PID + spec.rank

    # ---- CPU side ----
    def _x(self, cat: str, name: str, ts: int, args: dict | None, pid: Any = None, tid: Any = None) -> dict:
        pid = self.cpu_pid if pid is None else pid
        tid = self.cpu_pid if tid is None else tid
        e = {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": 0}
        if args is not None:
            e["args"] = args
        self.ev.append(e)
        return e

    def goto(self, path: list[tuple[tuple, str]]) -> None:
        """Make the open Python frames equal ``path`` (list of (key, frame name))."""
        n = 0
        while n < len(self.open) and n < len(path) and self.open[n][0] == path[n][0]:
            n += 1
        while len(self.open) > n:
            self.cpu += 150
            _, e = self.open.pop()
            e["dur"] = self.cpu - e["ts"]
        for key, name in path[n:]:
            self.cpu += 250
            self.py_id += 1
            self.ev_idx += 1
            parent = self.open[-1][1]["args"]["Python id"] if self.open else None
            args = {"Python parent id": parent, "Python id": self.py_id, "Ev Idx": self.ev_idx}
            if name.startswith("nn.Module: "):
                args["Python module id"] = self.mod_ids.setdefault(name, len(self.mod_ids) + 1)
            self.open.append((key, self._x("python_function", name, self.cpu, args)))

    def cpu_op(self, name: str) -> dict:
        self.cpu += 400
        self.ext += 1
        self.ev_idx += 1
        args: dict[str, Any] = {"External id": self.ext, "Record function id": 0, "Ev Idx": self.ev_idx}
        if self.shapes:
            args.update({"Concrete Inputs": ["", ""], "Input type": ["c10::BFloat16", "c10::BFloat16"],
                         "Input Strides": [[4096, 1], [1, 4096]], "Input Dims": [[16, 4096], [4096, 4096]]})
        return self._x("cpu_op", name, self.cpu, args)

    def close(self, e: dict, gap: int = 300) -> None:
        self.cpu += gap
        e["dur"] = self.cpu - e["ts"]

    def annotation(self, name: str) -> dict:
        self.cpu += 200
        self.ext += 1
        self.ev_idx += 1
        return self._x("user_annotation", name, self.cpu, {"External id": self.ext, "Record function id": 0,
                                                            "Ev Idx": self.ev_idx})

    # ---- launches and GPU activities ----
    def launch(self, name: str, ext: int | None, graph: bool = False, memcpy: bool = False) -> tuple[dict, int]:
        self.corr += 1
        dur = 3_000 + self.rng.randrange(4_000) if not graph else 20_000 + self.rng.randrange(5_000)
        args: dict[str, Any] = {"correlation": self.corr}
        if self.rocm:
            args["cid"] = 215 if graph else (34 if memcpy else 115)
            if not graph and not memcpy:
                args.update({"kernel": name, "grid": [256, 1, 1], "block": [256, 1, 1], "shared memory": 0})
            if memcpy:
                args.update({"src": "0x7f1b00000000", "dst": "0x7f1c00000000", "bytes": 4096, "kind": "HtoD"})
        else:
            args["cbid"] = 311 if graph else (41 if memcpy else 211)
        if ext is not None:
            args["External id"] = ext
        rt = self._x("cuda_runtime", self._launch_name(name, graph, memcpy), self.cpu, args)
        rt["dur"] = dur
        if self.flows:
            self.ev.append({"ph": "s", "id": self.corr, "pid": self.cpu_pid, "tid": self.cpu_pid, "ts": self.cpu,
                            "cat": "ac2g", "name": "ac2g"})
        self.cpu += dur + 200
        return rt, self.corr

    def _launch_name(self, name: str, graph: bool, memcpy: bool) -> str:
        if self.rocm:
            return "hipGraphLaunch" if graph else "hipMemcpyAsync" if memcpy else \
                "hipExtModuleLaunchKernel" if name.startswith("Cijk_") else "hipLaunchKernel"
        return "cudaGraphLaunch" if graph else "cudaMemcpyAsync" if memcpy else "cudaLaunchKernel"

    def kernel(self, name: str, dur: int, corr: int, ext: int | None, earliest: int, stream: int,
               truth: Truth | None, graph: bool = False, memcpy: bool = False, pdl: bool = False) -> int:
        start = max(self.gpu_free[stream], earliest)
        prev_start, prev_end = self.last_kernel[stream]
        if pdl and max(earliest, prev_start + PDL_LEAD_NS) < prev_end:  # starts beside its predecessor
            start = max(earliest, prev_start + PDL_LEAD_NS)
            self.truth.pdl_overlap[(stream, BASE_NS + start)] = prev_end - start
            dur += prev_end - start  # the record runs from its early start to the end of its own work
        cat = "gpu_memcpy" if memcpy else "kernel"
        if self.rocm:
            args: dict[str, Any] = {"device": self.gpu_pid, "stream": stream, "correlation": corr,
                                    "kind": "HtoD" if memcpy else ("Dispatch Task" if graph else "Dispatch Kernel")}
            if memcpy:
                args.update({"bytes": 4096, "memory bandwidth (GB/s)": 4096 / max(dur, 1)})
            elif not graph:
                args.update({"grid": [256, 1, 1], "block": [256, 1, 1]})
        elif memcpy:
            args = {"device": self.gpu_pid, "context": 1, "stream": stream, "correlation": corr, "bytes": 4096,
                    "memory bandwidth (GB/s)": 4096 / max(dur, 1)}
        else:
            args = {"queued": 0, "device": self.gpu_pid, "context": 1, "stream": stream, "correlation": corr,
                    "registers per thread": 128, "shared memory": 49152, "blocks per SM": 1.0,
                    "warps per SM": 8.0, "grid": [132, 1, 1], "block": [384, 1, 1],
                    "est. achieved occupancy %": 12}
        if ext is not None:
            args["External id"] = ext
        e = self._x(cat, name, start, args, self.gpu_pid, stream)
        e["dur"] = dur
        if truth is not None:
            self.truth.by_ev[len(self.ev) - 1] = truth
            self.truth.by_stream_ts[(stream, BASE_NS + start)] = truth
        if self.flows:
            self.ev.append({"ph": "f", "id": corr, "pid": self.gpu_pid, "tid": stream, "ts": start,
                            "cat": "ac2g", "name": "ac2g", "bp": "e"})
        self.gpu_free[stream] = start + dur + 800 + self.rng.randrange(400)
        self.last_kernel[stream] = (start, start + dur)
        return start


# --------------------------------------------------------------------------------------------
# trace building
# --------------------------------------------------------------------------------------------

@dataclass
class _Ctx:
    spec: ModelSpec
    stage: str
    tile_variant: int
    ops: dict[str, OpDef]
    frames: dict[str, Any]


def _ops_for(spec: ModelSpec) -> dict[str, OpDef]:
    if spec.framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {spec.framework!r}")
    table = {"sglang": _sglang_ops, "vllm": _vllm_ops, "trtllm": _trtllm_ops}[spec.framework](spec.vendor)
    return {k: table[k] for k in spec.ops}


def _kernel_names(ctx: _Ctx, op: OpDef) -> list[tuple[str, int]]:
    tiles = (HIP_TILES if ctx.spec.vendor == "rocm" else TILES)[ctx.tile_variant % 3]
    out = []
    for k in op.kernels[:1] if ctx.spec.detail == "lean" else op.kernels:
        name = k.name.replace("{tile}", tiles[op.tile]) if op.tile else k.name
        if op.key == "attention" and "FlashAttnFwdSm90" in name:
            dec = ctx.stage == "decode"
            name = name.replace("{n}", "176" if dec else "128").replace("{causal}", "false" if dec else "true") \
                       .replace("{split}", "true" if dec else "false")
        dur = k.dur_ns if ctx.stage == "decode" else int(k.dur_ns * k.prefill_x)
        factor = dict(ctx.spec.op_scale).get(op.key)
        out.append((name, int(dur * factor) if factor else dur))
    return out


def _mod(cls: str, idx: int) -> list[str]:
    return [WRAPPED, f"nn.Module: {cls}_{idx}", CALL_IMPL]


def _op_path(ctx: _Ctx, layer: int, op: OpDef, n: int, head: list) -> list[tuple[tuple, str]]:
    """Eager Python path of op instance ``n`` (keys make shared frames shared, op frames unique)."""
    f = ctx.frames
    stage = "decode" if ctx.stage == "decode" else "extend"
    if ctx.spec.detail == "lean":
        return head + [(("op", n), op.frames[0].replace("{stage}", stage))]
    p = list(head)
    if op.block in ("model", "sample"):  # model shell: under the model module, outside every layer
        idx = 2 * ctx.spec.layers if op.module == "RMSNorm" else 0
        p += [(("op", n, "m", i), x) for i, x in enumerate(_mod(op.module, idx) if op.module else [])]
        return p + [(("op", n, i), x) for i, x in enumerate(op.frames)]
    p += [(("layer", layer, i), x) for i, x in enumerate(_mod(f["layer"][0], layer) + [f["layer"][1]])]
    if op.block != "layer":
        cls, fr = f[op.block]
        p += [((op.block, layer, i), x) for i, x in enumerate(_mod(cls, layer) + [fr])]
    if op.module:
        idx = layer * 2 + (op.key == "post_attention_layernorm") if op.module == "RMSNorm" else layer
        p += [(("op", n, "m", i), x) for i, x in enumerate(_mod(op.module, idx))]
    p += [(("op", n, i), x.replace("{stage}", stage)) for i, x in enumerate(op.frames)]
    return p


def _model_head(ctx: _Ctx, step: int) -> list[tuple[tuple, str]]:
    """Eager step-level + model-level frames."""
    f, stage = ctx.frames, ("decode" if ctx.stage == "decode" else "extend")
    names = list(f["step"]) + [x.replace("{stage}", stage) for x in f["eager"]]
    if ctx.spec.detail == "full":
        mc, mf, lc, lf = f["model"]
        names += _mod(mc, 0) + [mf] + _mod(lc, 0) + [lf]
    return [(("step", step, i), x) for i, x in enumerate(names)]


def _truth_of(path: list, cpu_op: str, op: str, layer: int) -> Truth:
    return _truth_cached(tuple(x for _, x in path), cpu_op, op, layer)


@functools.lru_cache(maxsize=1 << 16)
def _truth_cached(raw: tuple[str, ...], cpu_op: str, op: str, layer: int) -> Truth:
    return Truth(choose_site(list(raw)) or "", cpu_op, tuple(display_frame(x) for x in raw), op, layer)


def _truth(ctx: _Ctx, w: _Writer, path: list, op: OpDef, layer: int) -> Truth:
    return _truth_of(path, op.cpu_ops[-1], op.key, layer)


def _step_name(fw: str, stage: str, step: int) -> str:
    if fw == "sglang":
        return "step[DECODE bs=16]" if stage == "decode" else "step[EXTEND bs=2 toks=4096]"
    if fw == "vllm":
        return "execute_context_0(0)_generation_16(16)" if stage == "decode" \
            else "execute_context_2(4096_16777216)_generation_0(0)"
    return f"ProfilerStep#{step}"


def _eager_op(ctx: _Ctx, w: _Writer, step: int, layer: int, op: OpDef, n: int, head: list) -> None:
    path = _op_path(ctx, layer, op, n, head)
    w.goto(path)
    truth = _truth(ctx, w, path, op, layer)
    opened = [w.cpu_op(c) for c in (op.cpu_ops[-1:] if ctx.spec.detail == "lean" else op.cpu_ops)]
    ext = opened[-1]["args"]["External id"]
    stream = _stream_of(w, op)
    for k, (name, dur) in enumerate(_kernel_names(ctx, op)):
        rt, corr = w.launch(name, ext)
        w.kernel(name, _jit(w, dur), corr, ext, rt["ts"] + 4_000, stream, _nth(truth, k),
                 pdl=k == 0 and op.key in ctx.spec.pdl_ops)
    for e in reversed(opened):
        w.close(e)


def _nth(truth: Truth, k: int) -> Truth:
    """The truth of the k-th kernel of an op's chain."""
    return truth if k == 0 else dataclasses.replace(truth, kernel=k)


def _stream_of(w: _Writer, op: OpDef) -> int:
    """With two streams the MLP runs on the side stream (overlapping the next attention)."""
    return w.streams[-1] if op.block == "mlp" else w.streams[0]


def _jit(w: _Writer, dur: int) -> int:
    if w.spec.kernel_scale != 1.0:
        dur = int(dur * w.spec.kernel_scale)
    return max(800, int(dur * (0.9 + 0.2 * w.rng.random())))


def _layer_ops(ctx: _Ctx) -> list[tuple[int, OpDef]]:
    """(layer, op) of one forward pass, model shell included (layer -1); sampling is separate."""
    out = [(layer, op) for layer in range(ctx.spec.layers)
           for op in models.layer_ops(ctx.spec, ctx.ops, layer, ctx.stage)]
    if ctx.spec.shell:
        pre, post, _ = _shell(ctx)
        out = [(-1, op) for op in pre] + out + [(-1, op) for op in post]
    return out


def _shell(ctx: _Ctx) -> tuple[tuple[OpDef, ...], ...]:
    norm = ctx.ops["input_layernorm"].kernels[0].name if "input_layernorm" in ctx.ops else "rms_norm_kernel"
    return models.shell_ops(ctx.spec.framework, ctx.spec.vendor, norm)


def _sample(ctx: _Ctx, w: _Writer, step: int, head: list, n: int) -> None:
    """Sampling after the forward pass: eager, also when the forward is a graph replay."""
    if ctx.spec.shell:
        for i, op in enumerate(_shell(ctx)[2]):
            _eager_op(ctx, w, step, -1, op, n + i, head)


def _eager_step(ctx: _Ctx, w: _Writer, step: int) -> None:
    head = _model_head(ctx, step)
    items = _layer_ops(ctx)
    for n, (layer, op) in enumerate(items):
        _eager_op(ctx, w, step, layer, op, n, head)
    _sample(ctx, w, step, head, len(items))


def _graph_replay(ctx: _Ctx, w: _Writer, items: list[tuple[int, OpDef, list]], head: list, key: tuple) -> None:
    """One graph launch replaying ``items`` (layer, op, eager path); kernels share its correlation."""
    w.goto(head + [((key, i), x) for i, x in enumerate(ctx.frames[key[0]])])
    rt, corr = w.launch("", None, graph=True)
    t = rt["ts"] + 6_000
    for layer, op, path in items:
        truth = _truth(ctx, w, path, op, layer)
        for k, (name, dur) in enumerate(_kernel_names(ctx, op)):
            start = w.kernel(name, _jit(w, int(dur * 0.93)), corr, None, t, _stream_of(w, op), _nth(truth, k),
                             graph=True, pdl=k == 0 and op.key in ctx.spec.pdl_ops)
            t = start + 1_000


def _graph_step(ctx: _Ctx, w: _Writer, step: int, piecewise: bool, extra_memcpy: bool) -> None:
    f = ctx.frames
    head = [(("step", step, i), x) for i, x in enumerate(f["step"])]
    eager_head = _model_head(ctx, step)
    if extra_memcpy:
        _memcpy(ctx, w, head + [(("prep", step, i), x) for i, x in enumerate(f["prepare"])])
    items = [(layer, op, _op_path(ctx, layer, op, n, eager_head)) for n, (layer, op) in enumerate(_layer_ops(ctx))]
    if not piecewise:
        _graph_replay(ctx, w, items, head, ("graph", step))
        _sample(ctx, w, step, eager_head, len(items))
        return
    piece: list = []
    for n, (layer, op, path) in enumerate(items):
        if op.key != "attention":
            piece.append((layer, op, path))
            continue
        if piece:
            _graph_replay(ctx, w, piece, head, ("piece" if "piece" in f else "graph", step, n))
            piece = []
        _eager_op(ctx, w, step, layer, op, n, eager_head)
    if piece:
        _graph_replay(ctx, w, piece, head, ("piece" if "piece" in f else "graph", step, len(items)))
    _sample(ctx, w, step, eager_head, len(items))


def _memcpy(ctx: _Ctx, w: _Writer, path: list) -> None:
    w.goto(path)
    op = w.cpu_op("aten::copy_")
    ext = op["args"]["External id"]
    truth = _truth_of(path, "aten::copy_", "memcpy", -1)
    rt, corr = w.launch(MEMCPY, ext, memcpy=True)
    w.kernel(MEMCPY, 1_500, corr, ext, rt["ts"] + 2_000, w.streams[0], truth, memcpy=True)
    w.close(op)


def _run_step(ctx: _Ctx, w: _Writer, step: int, mode: str, extra_memcpy: bool) -> None:
    w.goto([(("step", step, i), x) for i, x in enumerate(ctx.frames["step"][:2])])
    ann = w.annotation(_step_name(ctx.spec.framework, ctx.stage, step))
    n0 = len(w.ev)
    if mode == "eager":
        if extra_memcpy:
            _memcpy(ctx, w, [(("step", step, i), x) for i, x in enumerate(ctx.frames["step"])]
                    + [(("prep", step, i), x) for i, x in enumerate(ctx.frames["prepare"])])
        _eager_step(ctx, w, step)
    else:
        _graph_step(ctx, w, step, mode == "piecewise", extra_memcpy)
    w.goto([])
    w.cpu = max(w.cpu, max(w.gpu_free.values())) + 5_000  # the step synchronises
    w.close(ann)
    _gpu_annotation(w, ann, n0)


def _gpu_annotation(w: _Writer, ann: dict, n0: int) -> None:
    gpu = [e for e in w.ev[n0:] if e.get("cat") in ("kernel", "gpu_memcpy")]
    if not gpu:
        return
    t0, t1 = min(e["ts"] for e in gpu), max(e["ts"] + e["dur"] for e in gpu)
    g = w._x("gpu_user_annotation", ann["name"], t0 - 1, {"External id": ann["args"]["External id"]},
             w.gpu_pid, w.streams[0])
    g["dur"] = t1 - t0 + 2


def _header(spec: ModelSpec, events: list[dict]) -> dict:
    top: dict[str, Any] = {"schemaVersion": 1, "deviceProperties": [_device(spec)]}
    if spec.vendor == "rocm":
        top.update({"roctracer_version": 4.1, "hip_runtime_version": 70253211, "hip_driver_version": 70253211})
    else:
        top.update({"cupti_version": 24, "cuda_runtime_version": 12080, "cuda_driver_version": 12090})
    top.update({"record_shapes": int(spec.detail == "full"), "with_stack": 1, "trace_id": "5D1A2B3C4D5E6F708192A3B4C5D6E7F8",
                "displayTimeUnit": "ms", "baseTimeNanoseconds": BASE_NS, "traceEvents": events,
                "traceName": f"/tmp/proftriage_{spec.framework}.json"})
    return top


def _device(spec: ModelSpec) -> dict:
    if spec.vendor == "rocm":
        return {"id": 0, "name": "AMD Instinct MI300X", "totalGlobalMem": 205822885888, "computeMajor": 9,
                "computeMinor": 4, "maxThreadsPerBlock": 1024, "maxThreadsPerMultiprocessor": 2048,
                "regsPerBlock": 65536, "warpSize": 64, "sharedMemPerBlock": 65536, "numSms": 304,
                "maxSharedMemoryPerMultiProcessor": 65536}
    return {"id": 0, "name": "NVIDIA H100 80GB HBM3", "totalGlobalMem": 85018279936, "computeMajor": 9,
            "computeMinor": 0, "maxThreadsPerBlock": 1024, "maxThreadsPerMultiprocessor": 2048,
            "regsPerBlock": 65536, "warpSize": 32, "sharedMemPerBlock": 49152, "numSms": 132,
            "regsPerMultiprocessor": 65536, "sharedMemPerBlockOptin": 232448, "sharedMemPerMultiprocessor": 233472}


def _meta(spec: ModelSpec, w: _Writer, end: int) -> list[dict]:
    proc = _model_frames(spec.framework)["proc"].replace("{rank}", str(spec.rank))
    m = lambda name, pid, tid, args: {"name": name, "ph": "M", "ts": START_NS, "pid": pid, "tid": tid, "args": args}
    cpu, gpu = w.cpu_pid, w.gpu_pid
    out = [m("process_name", cpu, 0, {"name": proc}), m("process_labels", cpu, 0, {"labels": "CPU"}),
           m("process_sort_index", cpu, 0, {"sort_index": cpu}),
           m("process_name", gpu, 0, {"name": proc}), m("process_labels", gpu, 0, {"labels": f"GPU {gpu}"}),
           m("process_sort_index", gpu, 0, {"sort_index": 5000000 + gpu}),
           m("thread_name", cpu, cpu, {"name": f"thread {cpu} (python3)"}),
           m("thread_sort_index", cpu, cpu, {"sort_index": cpu})]
    for s in w.streams:
        out += [m("thread_name", gpu, s, {"name": f"stream {s} "}), m("thread_sort_index", gpu, s, {"sort_index": s})]
    out.append({"ph": "X", "cat": "Trace", "ts": START_NS, "dur": end - START_NS, "pid": "Spans",
                "tid": "PyTorch Profiler", "name": "PyTorch Profiler (0)", "args": {"Op count": 0}})
    out.append({"name": "process_sort_index", "ph": "M", "ts": START_NS, "pid": "Spans", "tid": 0,
                "args": {"sort_index": 536870912}})
    out.append({"name": "Iteration Start: PyTorch Profiler", "ph": "i", "s": "g", "pid": "Traces",
                "tid": "Trace PyTorch Profiler", "ts": START_NS})
    return out


def _finish(w: _Writer, spec: ModelSpec) -> dict:
    """Prepend metadata rows, shift truth indices, convert ns clocks to µs with 3 decimals."""
    end = max(w.cpu, max(w.gpu_free.values()))
    meta = _meta(spec, w, end)
    shift = len(meta)
    w.truth.by_ev = {i + shift: t for i, t in w.truth.by_ev.items()}
    events = meta + w.ev
    for e in events:
        e["ts"] = _us(e["ts"])
        if "dur" in e:
            e["dur"] = _us(e["dur"])
    return _header(spec, events)


def make_trace_with_truth(spec: ModelSpec, *, steps: int, mode: str = "eager", stage: str = "decode",
                          seed: int = 0, streams: int = 1, tile_variant: int = 0, extra_memcpy: bool = False,
                          eager_prefill_steps: int = 0, piecewise_prefill_steps: int = 0) -> tuple[dict, GroundTruth]:
    """``make_trace`` plus the ground truth of every kernel. ``eager_prefill_steps`` leading eager
    prefill steps precede graph steps (SGLang: extend eagerly, decode as graph replays); then
    ``piecewise_prefill_steps`` prefill steps replay piecewise graphs split around eager attention
    (SGLang's piecewise CUDA graph for extends below its token cap)."""
    if mode not in ("eager", "graph", "piecewise") or stage not in ("decode", "prefill"):
        raise ValueError(f"bad mode/stage: {mode!r}/{stage!r}")
    w = _Writer(spec, seed, streams)
    ops = _ops_for(spec)
    frames = _model_frames(spec.framework)
    gc_was = gc.isenabled()
    gc.disable()  # millions of small acyclic dicts: the cyclic GC would dominate the run time
    try:
        prefill = ["eager"] * eager_prefill_steps + ["piecewise"] * piecewise_prefill_steps
        for step in range(steps + len(prefill)):
            pre = step < len(prefill)
            ctx = _Ctx(spec, "prefill" if pre else stage, tile_variant, ops, frames)
            _run_step(ctx, w, step, prefill[step] if pre else mode, extra_memcpy)
        return _finish(w, spec), w.truth
    finally:
        if gc_was:
            gc.enable()


def make_trace(spec: ModelSpec, *, steps: int, mode: str = "eager", stage: str = "decode", seed: int = 0,
               streams: int = 1, tile_variant: int = 0) -> dict:
    """The full Kineto JSON object of ``steps`` steps (eager | graph | piecewise)."""
    return make_trace_with_truth(spec, steps=steps, mode=mode, stage=stage, seed=seed, streams=streams,
                                 tile_variant=tile_variant)[0]


def make_pair(spec: ModelSpec, *, steps: int, stage: str = "decode", seed: int = 0,
              drop: int = 1, streams: int = 1) -> tuple[dict, dict, GroundTruth]:
    """Mapping (eager, tile variant 0) + formal (graph / vLLM piecewise, tile variant 1, an extra
    memcpy per step, ``drop`` splitK kernels removed per formal step) of the same model."""
    mapping = make_trace(spec, steps=steps, mode="eager", stage=stage, seed=seed, streams=streams)
    mode = "piecewise" if spec.framework == "vllm" else ("graph" if stage == "decode" else "eager")
    formal, truth = make_trace_with_truth(spec, steps=steps, mode=mode, stage=stage, seed=seed + 1,
                                          tile_variant=1, extra_memcpy=True, streams=streams)
    if drop:
        formal, truth = _drop_kernels(formal, truth, drop, random.Random(seed))
    return mapping, formal, truth


def _drop_kernels(obj: dict, truth: GroundTruth, per_step: int, rng: random.Random) -> tuple[dict, GroundTruth]:
    """Remove ``per_step`` splitKreduce kernels per step (a tile that needs no split-K); an eager
    kernel's launch and flows go with it, a replayed one only takes its own ``f`` flow."""
    ev = obj["traceEvents"]
    doomed: set[int] = set()
    for s in (e for e in ev if e.get("cat") == "gpu_user_annotation"):
        lo, hi = s["ts"], s["ts"] + s["dur"]
        cand = [i for i, e in enumerate(ev) if e.get("cat") == "kernel" and "splitKreduce" in e["name"]
                and lo <= e["ts"] <= hi]
        doomed.update(rng.sample(cand, min(per_step, len(cand))))
    corr_count: dict[int, int] = {}
    for e in ev:
        if e.get("cat") == "kernel":
            c = e["args"]["correlation"]
            corr_count[c] = corr_count.get(c, 0) + 1
    eager = {ev[i]["args"]["correlation"] for i in doomed if corr_count[ev[i]["args"]["correlation"]] == 1}
    flows = {(ev[i]["args"]["correlation"], ev[i]["ts"]) for i in doomed}
    for i, e in enumerate(ev):
        if e.get("cat") == "cuda_runtime" and e["args"]["correlation"] in eager:
            doomed.add(i)
        elif e.get("cat") == "ac2g" and (e["id"] in eager or (e["id"], e["ts"]) in flows):
            doomed.add(i)
    keep = [i for i in range(len(ev)) if i not in doomed]
    new_index = {old: new for new, old in enumerate(keep)}
    out = dict(obj)
    out["traceEvents"] = [ev[i] for i in keep]
    t = GroundTruth({new_index[i]: v for i, v in truth.by_ev.items() if i in new_index}, dict(truth.by_stream_ts))
    return out, t


def write_trace(obj: dict, path: Path) -> Path:
    """Write ``obj`` as ``.json`` or ``.json.gz`` (by suffix) with orjson."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(obj)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def file_name(framework: str, *, stage: str, rank: int = 0, role: str = "formal") -> str:
    """File name as the engine writes it (role as the client-chosen prefix)."""
    if framework == "sglang":
        st = "DECODE" if stage == "decode" else "EXTEND"
        return f"{role}-1759130995.3223403-TP-{rank}-{st}.trace.json.gz"
    if framework == "vllm":
        return f"{role}-{stage}_dp0_pp0_tp{rank}_dcp0_ep0_rank{rank}.{1787888424265644846 + rank}.pt.trace.json.gz"
    if framework == "trtllm":
        return f"{role}-{stage}-trace-rank-{rank}.json"
    raise ValueError(f"unknown framework {framework!r}")


# --------------------------------------------------------------------------------------------
# multi-rank SGLang runs and SGLang's merged trace
# --------------------------------------------------------------------------------------------

SGLANG_PROFILE_ID = "1759130995.3223403"
_PARALLEL = ("TP", "DP", "PP", "EP")  # the merger's label order


def sglang_rank_file(profile_id: str, tp: int, *, dp: int | None = None, pp: int | None = None,
                     ep: int | None = None, stage: str | None = None) -> str:
    """Per-rank name as SGLang's scheduler writes it: ``{id}-TP-{tp}[-DP-n][-PP-n][-EP-n][-EXTEND|-DECODE]``
    (DP/PP/EP only when that size > 1; ``scheduler_profiler_mixin`` / ``profile_utils``)."""
    parts = [profile_id, f"TP-{tp}"] + [f"{k}-{v}" for k, v in (("DP", dp), ("PP", pp), ("EP", ep)) if v is not None]
    return "-".join(parts) + (f"-{stage}" if stage else "") + ".trace.json.gz"


def make_sglang_run(tp: int = 2, *, steps: int = 2, prefill_steps: int = 1, layers: int = 2, seed: int = 0,
                    slow_rank: int | None = None, slow_factor: float = 1.5,
                    profile_id: str = SGLANG_PROFILE_ID, streams: int = 1) -> dict[str, dict]:
    """Per-rank traces of one SGLang TP run, file name → Kineto object. Each rank is its own process
    (CPU pid ``CPU_PID + rank``, GPU pid and ``args.device`` = rank, ``distributedInfo.rank``, its own
    ``baseTimeNanoseconds``); ``prefill_steps`` eager extend steps, then ``steps`` eager decode steps.
    ``slow_rank``'s kernels all last ``slow_factor`` × longer (the straggler); ``streams`` = 2 puts
    each rank's MLP on a side stream (as ``make_trace``)."""
    out = {}
    for r in range(tp):
        spec = ModelSpec(layers=layers, rank=r, kernel_scale=slow_factor if r == slow_rank else 1.0)
        obj, _ = make_trace_with_truth(spec, steps=steps, mode="eager", stage="decode", seed=seed + r,
                                       eager_prefill_steps=prefill_steps, streams=streams)
        head = {k: v for k, v in obj.items() if k in ("schemaVersion", "deviceProperties")}
        head["distributedInfo"] = {"backend": "nccl", "rank": r, "world_size": tp}
        obj = head | {k: v for k, v in obj.items() if k not in head}
        obj["baseTimeNanoseconds"] = BASE_NS + r * 1_000_000  # each process has its own profiler clock base
        out[sglang_rank_file(profile_id, r)] = obj
    return out


def _merger_rank_info(name: str) -> dict[str, int]:
    return {k.lower(): int(m.group(1)) for k in _PARALLEL if (m := re.search(rf"{k}-(\d+)", name))}


def merge_sglang_traces(files: dict[str, dict], profile_id: str = SGLANG_PROFILE_ID) -> tuple[str, dict]:
    """(file name, object) of ``merged-{profile_id}.trace.json.gz`` as SGLang's ``ProfileMerger``
    (python/sglang/srt/utils/profile_merger.py) builds it from per-rank files: files in (DP, EP, PP,
    TP) order; EVERY event's pid becomes ``"{label} {pid}"`` with label ``[TP00-DP01-PP02-EP03]``
    (parts found in the file name, 2 digits; ``[Unknown]`` when none); tids untouched;
    ``process_sort_index`` of int pids < 1000 rewritten; ``deviceProperties`` concatenated; every
    other top-level key (``baseTimeNanoseconds``, ``distributedInfo``…) from the first file only."""
    merged: dict[str, Any] = {"traceEvents": []}
    devices: list = []
    for name in sorted(files, key=lambda n: tuple(_merger_rank_info(n).get(k, 0) for k in ("dp", "ep", "pp", "tp"))):
        info = _merger_rank_info(name)
        parts = [f"{k}{info[k.lower()]:02d}" for k in _PARALLEL if k.lower() in info]
        label = f"[{'-'.join(parts)}]" if parts else "[Unknown]"
        src = orjson.loads(orjson.dumps(files[name]))  # the inputs stay untouched
        for e in src["traceEvents"]:
            if e.get("name") == "process_sort_index":
                try:
                    pid = int(e.get("pid"))
                except (TypeError, ValueError):
                    pid = None
                if pid is not None and pid < 1000:
                    e["args"]["sort_index"] = (info.get("dp", 0) * 100000000 + info.get("ep", 0) * 1000000
                                               + info.get("pp", 0) * 10000 + info.get("tp", 0) * 100 + pid)
            e["pid"] = f"{label} {e['pid']}"
        merged["traceEvents"].extend(src.pop("traceEvents"))
        devices.extend(src.pop("deviceProperties", []))
        for key, value in src.items():
            merged.setdefault(key, value)
    if devices:
        merged["deviceProperties"] = devices
    return f"merged-{profile_id}.trace.json.gz", merged


# --------------------------------------------------------------------------------------------
# reference attribution for tests: trace → kernel records (docs/architecture.md columns)
# --------------------------------------------------------------------------------------------

FAMILY_WORDS = (("memory", ("Memcpy", "Memset")), ("norm", ("RMSNorm", "rms_norm", "RmsNorm", "rmsnorm")),
                ("rope", ("Rotary", "rotary", "Rope")), ("activation", ("act_and_mul", "swiglu", "silu")),
                ("attention", ("flash::", "fmha", "Attn", "attention", "KVCache")),
                ("gemm", ("nvjet", "gemm", "Cijk_", "cutlass", "splitKreduce", "xmma")))


def family_of(name: str) -> str:
    """Tiny keyword classifier for generated names (tests only; ``classify`` is the real one)."""
    for fam, words in FAMILY_WORDS:
        if any(w in name for w in words):
            return fam
    return "other"


def _stage_of(step_name: str | None) -> str:
    if not step_name:
        return "unknown"
    if "DECODE" in step_name or step_name.startswith("execute_context_0("):
        return "decode"
    if "EXTEND" in step_name or "_generation_0(" in step_name:
        return "prefill"
    return "unknown"


def _enclosing(ev: list[dict]) -> dict[int, tuple[str, ...]]:
    """Event index of each cpu_op / runtime → raw Python stack (outermost first) at that moment."""
    rows = [(e["ts"], -e.get("dur", 0), i) for i, e in enumerate(ev)
            if e.get("ph") == "X" and e.get("cat") in ("python_function", "cpu_op", "cuda_runtime", "cuda_driver")]
    rows.sort()
    open_: list[tuple[float, str]] = []
    out: dict[int, tuple[str, ...]] = {}
    for ts, _, i in rows:
        e = ev[i]
        while open_ and open_[-1][0] < ts:
            open_.pop()
        if e["cat"] == "python_function":
            open_.append((ts + e["dur"], e["name"]))
        else:
            out[i] = tuple(f for _, f in open_)
    return out


def kernel_records(obj: dict, file_id: int = 0) -> list[dict]:
    """Kernel records from a trace (one CPU thread): kernel → launch (correlation) → innermost
    cpu_op (External id) → enclosing Python frames; graph kernels → their graph launch's frames."""
    ev = obj["traceEvents"]
    base = obj.get("baseTimeNanoseconds", 0)
    stacks = _enclosing(ev)
    ops = {e["args"]["External id"]: i for i, e in enumerate(ev) if e.get("cat") == "cpu_op"}
    rts = {e["args"]["correlation"]: i for i, e in enumerate(ev) if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    steps = sorted((e["ts"], e["ts"] + e["dur"], e["name"]) for e in ev if e.get("cat") == "user_annotation")
    starts = [s[0] for s in steps]
    out = []
    for i, e in enumerate(ev):
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        out.append(_record(ev, i, e, base, ops, rts, stacks, steps, starts, file_id))
    out.sort(key=lambda r: (r["ts_ns"], r["stream"]))
    return out


def _record(ev, i, e, base, ops, rts, stacks, steps, starts, file_id) -> dict:
    a = e["args"]
    ri = rts.get(a["correlation"])
    rt = ev[ri] if ri is not None else None
    launch = rt["name"] if rt else None
    is_graph = bool(launch and "GraphLaunch" in launch)
    ext = a.get("External id") or (rt["args"].get("External id") if rt else None)
    oi = ops.get(ext)
    stack = stacks.get(oi if oi is not None else ri, ()) if (oi is not None or ri is not None) else ()
    k = bisect.bisect_right(starts, rt["ts"] if rt else e["ts"]) - 1
    step_name = steps[k][2] if k >= 0 and (rt["ts"] if rt else e["ts"]) <= steps[k][1] else None
    kind = {"kernel": "kernel", "gpu_memcpy": "memcpy", "gpu_memset": "memset"}[e["cat"]]
    return {"file_id": file_id, "ev": i, "kind": kind, "name": e["name"], "display_name": e["name"],
            "family": family_of(e["name"]), "ts_ns": base + round(e["ts"] * 1000), "dur_ns": round(e["dur"] * 1000),
            "stream": a["stream"], "device": a["device"], "correlation": a["correlation"], "launch_name": launch,
            "launch_ts_ns": base + round(rt["ts"] * 1000) if rt else None, "is_graph": is_graph,
            "cpu_op_ev": oi, "cpu_op": ev[oi]["name"] if oi is not None else None,
            "site": choose_site(list(stack)), "stack": [display_frame(x) for x in stack],
            "step": k if step_name else None, "step_name": step_name, "stage": _stage_of(step_name),
            "attribution": "graph" if is_graph and oi is None else ("direct" if oi is not None else "none")}


def steps_of(records: list[dict]) -> list[list[dict]]:
    """Kernel records grouped by step (time order), records without a step dropped."""
    by: dict[int, list[dict]] = {}
    for r in records:
        if r["step"] is not None:
            by.setdefault(r["step"], []).append(r)
    return [by[k] for k in sorted(by)]


from tracegen.collectives import CollectiveRun, InstanceTruth, make_collective_run  # noqa: E402, F401  (re-exported; uses the above)
