"""Model shapes beyond a dense decoder stack: the model shell and MoE layers (``ModelSpec.shell`` / ``.moe``).

* shell: the embedding before the first layer, the final norm and the lm_head after the last (inside
  the model module, outside every decoder layer; inside the CUDA graph in graph mode), and greedy
  sampling after the forward (always eager, as SGLang and vLLM sample outside the graph).
* stage_variants: prefill layers run FlashInfer ragged-prefill attention and GEMMs without split-K
  (decode keeps the FA3 trio and split-K): the kernel sequences of eager prefill and graph decode steps
  differ in every layer, as they do in real serving (a costly whole-sequence diff).
* moe: every layer from ``dense_layers`` on replaces the dense MLP (gate_up_proj, act, down_proj) by a
  router GEMM, top-k routing and the fused-MoE experts — the Triton ``fused_moe`` path of SGLang and
  vLLM (kernel names as those frameworks launch them). The first ``dense_layers`` layers keep the
  dense MLP (DeepSeek-style ``first_k_dense_replace``).

Op definitions only; `tracegen/__init__.py` lays them out (``_layer_ops``).
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracegen import OpDef

MLP_OPS = ("gate_up_proj", "act", "down_proj")
GATHER = "void at::native::(anonymous namespace)::indexSelectLargeIndex<c10::BFloat16, long, unsigned int, 2, 2, -2, " \
         "true>(at::cuda::detail::TensorInfo<c10::BFloat16, unsigned int>, at::cuda::detail::TensorInfo<c10::BFloat16 " \
         "const, unsigned int>, at::cuda::detail::TensorInfo<long const, unsigned int>, int, int, unsigned int, " \
         "unsigned int, long)"
ARGMAX = "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned " \
         "int, long, 4> >(at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4>)"
LM_HEAD = "nvjet_tst_192x8_64x8_4x1_v_bz_TNT"
ROUTER = "nvjet_tst_64x8_64x16_4x1_v_bz_TNN"
TOPK = "void vllm::moe::topkGatingSoftmax<4, 128, 4, 16, 32, int, float>(float const*, bool const*, float*, int, int*, " \
       "int, int, int, int, int)"
ALIGN = "void moe_align_block_size_kernel<int>(int const*, int*, int*, int*, int, int, int, int, unsigned long, int*)"
FUSED_MOE = "fused_moe_kernel"
MOE_SUM = "void vllm::moe::moe_sum_kernel<c10::BFloat16, 8>(c10::BFloat16*, c10::BFloat16 const*, int)"
OPS_CALL = "torch/_ops.py(1243): __call__"
PREFILL_ATTN = "void flashinfer::BatchPrefillWithRaggedKVCacheKernel<flashinfer::KernelTraits<(flashinfer::MaskMode)1, " \
               "128u, 1u, 8u, 8u, 8u, 1u, 4u, (flashinfer::PosEncodingMode)0, __nv_bfloat16, __nv_bfloat16, " \
               "__nv_bfloat16, float, int, flashinfer::DefaultAttention<false, false, false, false> >, " \
               "flashinfer::RaggedParams<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16, int> >" \
               "(flashinfer::RaggedParams<__nv_bfloat16, __nv_bfloat16, __nv_bfloat16, int>)"
MERGE_STATES = "void flashinfer::MergeStatesLargeNumIndexSetsKernel<8u, 16u, 8u, 4u, __nv_bfloat16, __nv_bfloat16>" \
               "(__nv_bfloat16*, float*, __nv_bfloat16*, float*, unsigned int, unsigned int, unsigned int)"


def _paths(fw: str) -> dict[str, str]:
    if fw == "sglang":
        sg = "/sgl-workspace/sglang/python/sglang/srt"
        return {"embed": f"{sg}/layers/vocab_parallel_embedding.py(471): forward",
                "norm": f"{sg}/layers/layernorm.py(126): forward_cuda",
                "lm_head": f"{sg}/layers/logits_processor.py(883): _compute_lm_head",
                "sample": f"{sg}/layers/sampler.py(83): forward",
                "gate": f"{sg}/layers/linear.py(461): forward",
                "topk": f"{sg}/layers/moe/topk.py(210): forward_cuda",
                "experts": f"{sg}/layers/moe/fused_moe_triton/layer.py(820): forward"}
    if fw == "vllm":
        ml = "vllm/model_executor/layers"
        return {"embed": f"{ml}/vocab_parallel_embedding.py(483): forward_cuda",
                "norm": f"{ml}/layernorm.py(194): forward_cuda",
                "lm_head": f"{ml}/logits_processor.py(85): _get_logits",
                "sample": "vllm/v1/sample/sampler.py(102): greedy_sample",
                "gate": f"{ml}/linear.py(234): apply",
                "topk": f"{ml}/fused_moe/layer.py(1696): forward_native",
                "experts": f"{ml}/fused_moe/fused_moe.py(1410): fused_experts_impl"}
    raise ValueError(f"model shell / MoE layers are generated for sglang and vllm only, not {fw!r}")


@lru_cache(maxsize=None)
def shell_ops(fw: str, vendor: str, norm_kernel: str) -> tuple[tuple["OpDef", ...], ...]:
    """(before the layers, after the layers, sampling) ops; `norm_kernel` is the model's RMSNorm kernel."""
    from tracegen import KernelDef, OpDef
    p = _paths(fw)
    pre = (OpDef("embed", "model", "VocabParallelEmbedding", (p["embed"],), ("aten::embedding", "aten::index_select"),
                 (KernelDef(GATHER, 6_000, 3.0),)),)
    post = (OpDef("final_norm", "model", "RMSNorm", (p["norm"], OPS_CALL), ("final_norm::rms_norm",),
                  (KernelDef(norm_kernel, 3_000),)),
            OpDef("lm_head", "model", "ParallelLMHead", (p["lm_head"], "<built-in function linear>"),
                  ("aten::linear", "aten::mm"), (KernelDef(LM_HEAD, 40_000, 2.0),)))
    sample = (OpDef("sample", "sample", None, (p["sample"],), ("aten::argmax",), (KernelDef(ARGMAX, 9_000, 1.0),)),)
    return pre, post, sample


@lru_cache(maxsize=None)
def moe_ops(fw: str, vendor: str) -> tuple["OpDef", ...]:
    """The MoE block replacing the dense MLP: router GEMM, top-k routing, fused-MoE experts."""
    from tracegen import KernelDef, OpDef
    p = _paths(fw)
    return (
        OpDef("router", "mlp", "ReplicatedLinear", (p["gate"], "<built-in function linear>"), ("aten::linear", "aten::mm"),
              (KernelDef(ROUTER, 4_000, 6.0),)),
        OpDef("topk", "mlp", "TopK", (p["topk"], OPS_CALL), ("moe::topk_softmax",),
              (KernelDef(TOPK, 2_500, 2.0), KernelDef(ALIGN, 3_000, 2.0))),
        OpDef("experts", "mlp", "FusedMoE", (p["experts"], OPS_CALL), ("moe::fused_experts",),
              (KernelDef(FUSED_MOE, 30_000, 15.0), KernelDef(_act(fw), 3_000), KernelDef(FUSED_MOE, 18_000, 15.0),
               KernelDef(MOE_SUM, 3_000, 8.0))),
    )


def _act(fw: str) -> str:
    if fw == "sglang":
        return "void flashinfer::activation::act_and_mul_kernel<__nv_bfloat16, &silu<float>>(__nv_bfloat16*, " \
               "__nv_bfloat16 const*, int)"
    return "void vllm::act_and_mul_kernel<c10::BFloat16, &(c10::BFloat16 vllm::silu_kernel<c10::BFloat16>" \
           "(c10::BFloat16 const&)), true>(c10::BFloat16*, c10::BFloat16 const*, int)"


@lru_cache(maxsize=None)
def prefill_attention(attention: "OpDef") -> "OpDef":
    """`attention` with FlashInfer's ragged prefill kernels instead of its own chain (``stage_variants``:
    SGLang's hybrid backends run extend and decode on different attention kernels)."""
    from tracegen import KernelDef, OpDef
    return OpDef(attention.key, attention.block, attention.module, attention.frames, attention.cpu_ops,
                 (KernelDef(PREFILL_ATTN, 9_000, 20.0), KernelDef(MERGE_STATES, 2_000, 3.0)))


def layer_ops(spec, dense: dict[str, "OpDef"], layer: int, stage: str = "decode") -> list["OpDef"]:
    """The ops of one decoder layer: dense, or MoE from layer ``spec.dense_layers`` on; with
    ``spec.stage_variants`` prefill layers use other attention kernels and no split-K reduce."""
    ops = list(dense.values())
    if spec.stage_variants and stage == "prefill":
        ops = [prefill_attention(o) if o.key == "attention" else _no_splitk(o) for o in ops]
    if not spec.moe or layer < spec.dense_layers:
        return ops
    moe = moe_ops(spec.framework, spec.vendor)
    return [o for o in ops if o.key not in MLP_OPS] + list(moe)


@lru_cache(maxsize=None)
def _no_splitk(op: "OpDef") -> "OpDef":
    from tracegen import OpDef
    kernels = tuple(k for k in op.kernels if "splitKreduce" not in k.name)
    return op if len(kernels) == len(op.kernels) else OpDef(op.key, op.block, op.module, op.frames, op.cpu_ops,
                                                                kernels, op.tile)
