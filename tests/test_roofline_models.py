"""Per-op cost models against hand-computed FLOPs and bytes (one case per catalog entry at least).

Shapes come from real ops of the corpus where one exists (noted per case); every expectation is
written out as the arithmetic of the model's rule, not taken from the code.
"""

from __future__ import annotations

import json

import pytest

from pipeline.roofline.models.attention import causal_pairs
from pipeline.roofline.models.registry import CONTEXT_MODELS, cost_of, entries, entry_for
from pipeline.roofline.shapes import Cost, NoModel, OpCall

BF, F32, I64, I32, U8, FP8 = "c10::BFloat16", "float", "long int", "int", "unsigned char", "c10::Float8_e4m3fn"


def op(name: str, dims: list, types: list, concrete: list | None = None) -> OpCall:
    concrete = concrete if concrete is not None else [""] * len(dims)
    return OpCall.parse(name, json.dumps(dims), json.dumps(types), json.dumps(concrete))


def run(call: OpCall) -> Cost:
    cost = cost_of(call)
    assert isinstance(cost, Cost), cost
    return cost


# name → (dims, types, concrete, flops, bytes, dtype); the comment says where the shapes come from
CASES = {
    # SGLang Qwen3-8B MI300X extend: qkv projection, 15360 tokens
    "aten::mm": ([[15360, 4096], [4096, 6144]], [BF, BF], None,
                 2 * 15360 * 4096 * 6144, (15360 * 4096 + 4096 * 6144 + 15360 * 6144) * 2, "bf16"),
    # HF Qwen1.5-0.5B H100: q projection with bias (bias read, not counted in FLOPs)
    "aten::addmm": ([[1024], [8944, 1024], [1024, 1024], [], []], [BF, BF, BF, "Scalar", "Scalar"], ["", "", "", "1", "1"],
                    2 * 8944 * 1024 * 1024, (1024 + 8944 * 1024 + 1024 * 1024 + 8944 * 1024) * 2, "bf16"),
    # HF Qwen1.5 H100 rotary inv_freq bmm (fp32)
    "aten::bmm": ([[1, 32, 1], [1, 1, 559]], [F32, F32], None,
                  2 * 1 * 32 * 559 * 1, (32 + 559 + 32 * 559) * 4, "fp32"),
    "aten::baddbmm": ([[4, 8, 16], [4, 8, 32], [4, 32, 16], [], []], [BF, BF, BF, "Scalar", "Scalar"], None,
                      2 * 4 * 8 * 16 * 32, (4 * 8 * 16 + 4 * 8 * 32 + 4 * 32 * 16 + 4 * 8 * 16) * 2, "bf16"),
    # fp8 x fp8 → bf16 (out_dtype code 15), scales not counted
    "aten::_scaled_mm": ([[64, 128], [128, 256], [], [], [], [], [], []], [FP8, FP8, F32, F32, "", "", "Scalar", "Scalar"],
                         ["", "", "", "", "", "", "15", "False"],
                         2 * 64 * 256 * 128, 64 * 128 + 128 * 256 + 64 * 256 * 2, "fp8"),
    "aten::linear": ([[2, 5, 64], [32, 64], [32]], [BF, BF, BF], None,
                     2 * 10 * 32 * 64, (2 * 5 * 64 + 32 * 64 + 32 + 10 * 32) * 2, "bf16"),
    # batch dims broadcast: [3, 1, 4, 8] x [5, 8, 2] → [3, 5, 4, 2]
    "aten::matmul": ([[3, 1, 4, 8], [5, 8, 2]], [F32, F32], None,
                     2 * 15 * 4 * 2 * 8, (3 * 4 * 8 + 5 * 8 * 2 + 15 * 4 * 2) * 4, "fp32"),
    # 2-D x 3-D: 100 rows over 4 groups, K 64, N 32
    "aten::_grouped_mm": ([[100, 64], [4, 64, 32], [4], [], []], [BF, BF, I32, "", ""], None,
                          2 * 100 * 64 * 32, (100 * 64 + 4 * 64 * 32 + 100 * 32) * 2, "bf16"),
    # T 8 tokens, top-2 of E 16 experts (16 pairs ≥ 16: every expert's weights counted), K 64, N1 2*32, I 32
    "vllm::inplace_fused_experts": ([[8, 64], [16, 64, 64], [16, 64, 32], [8, 2], [8, 2]], [BF, BF, BF, F32, I32], None,
                                    2 * 16 * 64 * 64 + 2 * 16 * 64 * 32,
                                    8 * 64 * 2 + 8 * 2 * 4 + 8 * 2 * 4 + 8 * 64 * 2 + (16 * 64 * 64 + 16 * 64 * 32) * 2, "bf16"),
    # HF Qwen1.5 H100 SDPA flash: B 16, S 559, H 16, D 64, causal
    "aten::_flash_attention_forward": (
        [[16, 559, 16, 64]] * 3 + [[]] * 12, [BF] * 3 + ["", "", "Scalar", "Scalar", "Scalar", "Scalar", "Scalar", "Scalar", "", "", "", ""],
        ["", "", "", "", "", "559", "559", "0.", "True", "False", "0.125", "", "", "", ""],
        2 * 16 * 16 * (559 * 560 // 2) * (64 + 64), 4 * 16 * 559 * 16 * 64 * 2, "bf16"),
    # GQA, non-causal (custom_mask_type 0): q [2, 10, 8, 64], k/v [2, 30, 2, 64]
    "aten::_efficient_attention_forward": (
        [[2, 10, 8, 64], [2, 30, 2, 64], [2, 30, 2, 64], [], [], [], [], [], [], [], []],
        [BF, BF, BF, "", "", "", "", "", "Scalar", "Scalar", "Scalar"], ["", "", "", "", "", "", "", "", "0.", "0", "False"],
        2 * 2 * 8 * (10 * 30) * 128, (2 * 10 * 8 * 64 * 2) * 2 + 2 * 30 * 2 * 128 * 2, "bf16"),
    # [B, H, S, D] layout, causal: B 1, H 4, S 8, D 16
    "aten::_scaled_dot_product_flash_attention": (
        [[1, 4, 8, 16]] * 3 + [[], [], [], []], [BF] * 3 + ["Scalar", "Scalar", "Scalar", ""], ["", "", "", "0.", "True", "False", ""],
        2 * 1 * 4 * 36 * 32, 4 * 1 * 4 * 8 * 16 * 2, "bf16"),
    "aten::_scaled_dot_product_efficient_attention": (
        [[1, 4, 8, 16]] * 3 + [[], [], [], [], []], [BF] * 3 + ["", "Scalar", "Scalar", "Scalar", ""], ["", "", "", "", "True", "0.", "False", ""],
        2 * 1 * 4 * 64 * 32, 4 * 1 * 4 * 8 * 16 * 2, "bf16"),
    "aten::_scaled_dot_product_cudnn_attention": (
        [[1, 4, 8, 16]] * 3 + [[], [], [], [], [], []], [BF] * 3 + ["", "Scalar", "Scalar", "Scalar", "Scalar", ""],
        ["", "", "", "", "False", "0.", "True", "False", ""],
        2 * 1 * 4 * 36 * 32, 4 * 1 * 4 * 8 * 16 * 2, "bf16"),
    # SGLang Qwen3-8B MI300X extend: 15 sequences of 1024 tokens, 32 q heads, 8 KV heads, paged cache
    "aiter::mha_batch_prefill": (
        [[15360, 32, 128], [835874, 8, 128], [835874, 8, 128], [16], [16], [15616]] + [[]] * 11,
        [BF, BF, BF, I32, I32, I32] + ["Scalar"] * 11,
        ["", "", "", "", "", "", "1024", "1024", "0.", "0.0883", "0.", "False", "True", "-1", "-1", "0", "False"],
        2 * 15 * 32 * (1024 * 1025 // 2) * 256,
        15360 * 32 * 128 * 2 * 2 + 15 * 1024 * 8 * 256 * 2, "bf16"),
    # vLLM gpt-oss B200: out, input, weight (read input + weight, write out)
    "_C::rms_norm": ([[888, 2880], [888, 2880], [2880], []], [BF, BF, BF, "Scalar"], None,
                     0, (888 * 2880 * 2 + 2880) * 2, "bf16"),
    # input and residual updated in place, weight read
    "_C::fused_add_rms_norm": ([[888, 2880], [888, 2880], [2880], []], [BF, BF, BF, "Scalar"], None,
                               0, 2 * 2 * 888 * 2880 * 2 + 2880 * 2, "bf16"),
    "sgl_kernel::rmsnorm": ([[32, 4096], [32, 4096], [4096], [], []], [BF, BF, BF, "Scalar", "Scalar"], None,
                            0, (2 * 32 * 4096 + 4096) * 2, "bf16"),
    "sgl_kernel::fused_add_rmsnorm": ([[32, 4096], [32, 4096], [4096], [], []], [BF, BF, BF, "Scalar", "Scalar"], None,
                                      0, (4 * 32 * 4096 + 4096) * 2, "bf16"),
    # SGLang MI300X: out, input, weight
    "aiter::rmsnorm": ([[15360, 4096], [15360, 4096], [4096], []], [BF, BF, BF, "Scalar"], None,
                       0, (2 * 15360 * 4096 + 4096) * 2, "bf16"),
    # out, input, residual_in, residual_out, weight: reads input, residual_in, weight; writes out, residual_out
    "aiter::add_rmsnorm": ([[15360, 4096]] * 4 + [[4096], []], [BF] * 5 + ["Scalar"], None,
                           0, (4 * 15360 * 4096 + 4096) * 2, "bf16"),
    # HTA two-rank: input [2048, 1, 742], weight and bias [1, 742]; output like input
    "aten::native_layer_norm": ([[2048, 1, 742], [], [1, 742], [1, 742], []], [F32, "", F32, F32, "Scalar"], None,
                                0, (2 * 2048 * 742 + 2 * 742) * 4, "fp32"),
    # vLLM: out [T, d], input [T, 2d]
    "_C::silu_and_mul": ([[888, 2880], [888, 5760]], [BF, BF], None, 0, (888 * 2880 + 888 * 5760) * 2, "bf16"),
    # SGLang MI300X: out [15360, 12288], input [15360, 24576]
    "sgl_kernel::silu_and_mul": ([[15360, 12288], [15360, 24576]], [BF, BF], None,
                                 0, (15360 * 12288 + 15360 * 24576) * 2, "bf16"),
    # vLLM gpt-oss B200: positions read; q and k updated in place; one cos/sin row gathered per position
    "_C::rotary_embedding": ([[888], [888, 512], [888, 64], [], [131072, 64], []], [I64, BF, BF, "Scalar", BF, "Scalar"],
                             ["", "", "", "64", "", "True"],
                             0, 888 * 8 + 2 * (888 * 512 + 888 * 64) * 2 + 888 * 64 * 2, "bf16"),
    # SGLang MI300X
    "sgl_kernel::rotary_embedding": ([[15360], [15360, 4096], [15360, 1024], [], [41216, 128], []],
                                     [I64, BF, BF, "Scalar", BF, "Scalar"], ["", "", "", "128", "", "True"],
                                     0, 15360 * 8 + 2 * (15360 * 4096 + 15360 * 1024) * 2 + 15360 * 128 * 2, "bf16"),
    # vLLM gpt-oss B200: bf16 key/value stored into a uint8 (fp8) cache, one element per key element
    "_C_cache_ops::reshape_and_cache_flash": (
        [[888, 1, 64], [888, 1, 64], [4213816, 16, 1, 64], [4213816, 16, 1, 64], [888], [], [], []],
        [BF, BF, U8, U8, I64, "", F32, F32], None,
        0, 2 * 888 * 64 * 2 + 888 * 8 + 2 * 888 * 64 * 1, "bf16"),
    # SGLang MI300X: bf16 cache
    "sglang::store_cache": ([[15360, 1024], [15360, 1024], [835874, 1024], [835874, 1024], [15360], [], []],
                            [BF, BF, BF, BF, I64, "Scalar", "Scalar"], None,
                            0, 2 * 15360 * 1024 * 2 + 15360 * 8 + 2 * 15360 * 1024 * 2, "bf16"),
    # vLLM B200: fp8 result, bf16 input, 0-dim fp32 scale
    "_C::static_scaled_fp8_quant": ([[888, 512], [888, 512], []], [FP8, BF, F32], None,
                                    0, 888 * 512 * 2 + 4 + 888 * 512 * 1, "fp8"),
    "_C::dynamic_scaled_fp8_quant": ([[16, 128], [16, 128], [1]], [FP8, BF, F32], None,
                                     0, 16 * 128 * 2 + 16 * 128 + 4, "fp8"),
    # HF H100: long → float copy of [1, 1, 559]
    "aten::copy_": ([[1, 1, 559], [1, 1, 559], []], [F32, I64, "Scalar"], ["", "", "False"], 0, 559 * 4 + 559 * 8, "fp32"),
    # vLLM B200: zero a [888, 3072] bf16 buffer
    "aten::fill_": ([[888, 3072], []], [BF, "Scalar"], ["", "0."], 0, 888 * 3072 * 2, "bf16"),
    # HF H100: mul of [16, 559, 1024] float by a [16, 559, 1] float (broadcast)
    "aten::mul": ([[16, 559, 1024], [16, 559, 1]], [F32, F32], None,
                  0, (16 * 559 * 1024 + 16 * 559) * 4 + 16 * 559 * 1024 * 4, "fp32"),
    # HF H100: x == 1 on [16, 559] int64 → bool
    "aten::eq": ([[16, 559], []], [I64, "Scalar"], ["", "1"], 0, 16 * 559 * 8 + 16 * 559 * 1, "bool"),
    # HF H100 RMSNorm variance: mean over the last dim of [16, 559, 1024] float
    "aten::mean": ([[16, 559, 1024], [], [], []], [F32, "ScalarList", "Scalar", ""], ["", "[-1]", "True", ""],
                   0, 16 * 559 * 1024 * 4 + 16 * 559 * 4, "fp32"),
    # SGLang MI300X sampling: argmax over the vocabulary of [15, 151936] float → 15 int64
    "aten::argmax": ([[15, 151936], [], []], [F32, "Scalar", "Scalar"], ["", "-1", "False"],
                     0, 15 * 151936 * 4 + 15 * 8, "fp32"),
    # HF H100: all() of [16, 559] bool → one bool
    "aten::all": ([[16, 559]], ["bool"], None, 0, 16 * 559 + 1, "bool"),
    # SGLang MI300X: max of [15] int64 → one int64
    "aten::max": ([[15]], [I64], None, 0, 15 * 8 + 8, "int64"),
}
# the other names of an entry share its model; each is checked with one unary case here
UNARY = ([[4, 8]], [BF], None, 0, 32 * 2 + 32 * 2, "bf16")


def _cases() -> list[tuple[str, tuple]]:
    out = []
    for e in entries():
        if e.model in CONTEXT_MODELS:  # priced with the trace's context: tests/test_roofline_context_models.py
            continue
        for name in e.names:
            if name in CASES:
                out.append((name, CASES[name]))
            elif e.model == "pointwise" and not e.args:
                out.append((name, UNARY))
            elif e.model == "pointwise":  # comparisons: bool output
                out.append((name, ([[4, 8]], [BF], None, 0, 32 * 2 + 32 * 1, "bool")))
            elif e.model == "reduction" and e.args["out"] == "input":  # full reduction of [4, 8] bf16
                out.append((name, ([[4, 8]], [BF], None, 0, 32 * 2 + 2, "bf16")))
            elif e.model == "reduction" and e.args["out"] == "int64":
                out.append((name, ([[4, 8], [], []], [BF, "Scalar", "Scalar"], ["", "1", "False"], 0, 32 * 2 + 4 * 8, "bf16")))
            elif e.model == "reduction":  # bool output
                out.append((name, ([[4, 8]], ["bool"], None, 0, 32 + 1, "bool")))
            else:  # a twin of an entry with a case: same model, same argument layout
                twin = next(n for n in CASES if (entry := entry_for(n)) and entry.model == e.model and entry.args == e.args)
                out.append((name, CASES[twin]))
    return out


@pytest.mark.parametrize("name,case", _cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_catalog_op_costs_what_was_computed_by_hand(name: str, case: tuple) -> None:
    dims, types, concrete, flops, nbytes, dtype = case
    cost = run(op(name, dims, types, concrete))
    assert (cost.flops, cost.bytes, cost.dtype) == (flops, nbytes, dtype)


def test_in_place_pointwise_writes_self_and_comparisons_write_bool() -> None:
    # add_(self [2, 3] float, other [3] float): read 6 + 3 floats, write self's 6
    assert run(op("aten::add_", [[2, 3], [3], []], [F32, F32, "Scalar"])).bytes == (6 + 3 + 6) * 4
    # out of place with a 0-dim double: the dimensioned float decides the output dtype
    assert run(op("aten::mul", [[1, 559, 64], []], [F32, "double"])).bytes == 559 * 64 * 4 + 8 + 559 * 64 * 4


def test_max_with_a_dim_writes_values_and_indices() -> None:
    cost = run(op("aten::max", [[6, 10], [], []], [BF, "Scalar", "Scalar"], ["", "1", "False"]))
    assert cost.bytes == 60 * 2 + 6 * 2 + 6 * 8


@pytest.mark.parametrize("sq,sk", [(1, 1), (5, 5), (3, 8), (8, 3), (1, 100), (100, 1)])
def test_causal_pairs_count_bottom_right_aligned_rows(sq: int, sk: int) -> None:
    rows = [max(0, sk - sq + i + 1) for i in range(sq)]
    assert causal_pairs(sq, sk) == sum(rows)


@pytest.mark.parametrize("call,why", [
    (op("aten::mm", [[4, 8], [8, 2]], [U8, U8]), "not plain floating types"),
    (op("aten::mm", [[4, 8], [7, 2]], [BF, BF]), "not a (batched) matmul"),
    (op("aten::mm", [], []), "shapes not recorded"),
    (op("vllm::moe_forward", [[888, 3072], [888, 128], []], [BF, BF, ""]), "the trace's model is unknown"),
    (op("aten::cat", [[[1, 559, 32], [1, 559, 32]], []], ["TensorList", "Scalar"]), "no cost model for aten::cat"),
    # vLLM piecewise MI300X: 8192 mixed prefill/decode tokens; the per-sequence lengths are not recorded
    (op("aiter::mha_batch_prefill", [[8000, 32, 128], [9000, 8, 128], [9000, 8, 128], [16], [16], [9000]] + [[]] * 11,
        [BF, BF, BF, I32, I32, I32] + ["Scalar"] * 11,
        ["", "", "", "", "", "", "1024", "1024", "0.", "0.1", "0.", "False", "True", "-1", "-1", "0", "False"]),
     "lengths differ"),
    (op("aten::_flash_attention_forward", [[1, 8, 2, 16]] * 3 + [[]] * 12, [BF] * 3 + [""] * 12,
        ["", "", "", "", "", "8", "8", "0.", "True", "False", "", "127", "0", "", ""]), "sliding window"),
    (op("aten::_flash_attention_forward", [[1, 4, 2, 16], [1, 8, 2, 16], [1, 8, 2, 16]] + [[]] * 12, [BF] * 3 + [""] * 12,
        ["", "", "", "", "", "4", "8", "0.", "True", "False", "", "", "", "", ""]), "does not state the mask alignment"),
    (op("vllm::inplace_fused_experts", [[8, 64], [16, 64, 32], [16, 64, 16], [8, 2], [8, 2]], [BF, U8, U8, F32, I32]),
     "quantized expert weights"),
])
def test_no_model_is_said_never_guessed(call: OpCall, why: str) -> None:
    cost = cost_of(call)
    assert isinstance(cost, NoModel) and why in cost.reason


def test_every_entry_cites_its_upstream_schema() -> None:
    for e in entries():
        repo, _, rest = e.source.partition(":")
        assert "/" in repo and rest.strip(), e.names
